"""The manifest validator's primitives: typed gets, names, env vars, relative paths, regexes and
the overlay-path rule; each failure a ConfigError naming file, line and key path
(core/yamlpos). Pure.
"""

from __future__ import annotations

import datetime
import math
import posixpath
import re
from pathlib import Path
from typing import Any

from titan_deploy.core import regex
from titan_deploy.core.yamlpos import KeyPath, Located

SECRETS_MOUNT = "/run/secrets"  # where a secret is mounted by default (its one definition)

# Names as Compose allows them (service and secret names: `[a-zA-Z0-9][a-zA-Z0-9._-]*`) and any
# POSIX env var name (`GITEA__database__PASSWD__FILE`). Still nothing a path, a YAML scalar or a
# shell could read as more: no separator, no leading dot or dash, no control character.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME_ALPHABET = "[A-Za-z0-9][A-Za-z0-9_.-]*"
ENV_ALPHABET = "[A-Za-z_][A-Za-z0-9_]*"
MAX_NAME = 63
# one segment of a container path or of a `file:` in the secrets dir: no separator, no space, no
# `$` (compose would interpolate it), nothing YAML or a shell reads as structure
_SEGMENT = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*$")
MAX_PATH = 1024


class Validator:
    """Small typed getters that raise ConfigError with the key path and line."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc

    def mapping(self, path: KeyPath, message: str) -> dict:
        if not isinstance(self.doc.value, dict):
            raise self.doc.error(path, message)
        return self.doc.value

    def known_keys(self, path: KeyPath, body: dict, allowed: set[str]) -> None:
        for key in body:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                raise self.doc.error((*path, str(key)), f"unknown key (allowed: {hint})")

    def get(
        self,
        path: KeyPath,
        body: dict,
        key: str,
        typ: type | tuple[type, ...],
        default: Any = None,
        *,
        required: bool = False,
    ) -> Any:
        if key not in body:
            if required:
                raise self.doc.error(path, f"missing required key `{key}`")
            return default
        value = body[key]
        if typ is int and _integral(value):
            value = int(value)  # `1.0` is the integer 1, as JSON Schema's `integer` says
        bad_bool = isinstance(value, bool) and typ is not bool and typ != (int, float)
        if not isinstance(value, typ) or bad_bool or (typ == (int, float) and _is_bool(value)):
            raise self.doc.error((*path, key), f"should be {_type_name(typ)}{_date_hint(value)}")
        return value

    def choice(self, path: KeyPath, body: dict, key: str, options: tuple, **kw: Any) -> Any:
        value = self.get(path, body, key, str, **kw)
        if value is not None and value not in options:
            raise self.doc.error((*path, key), f"should be one of {', '.join(options)}")
        return value

    def name(self, path: KeyPath, value: Any, what: str) -> str:
        check(self.doc, path, value, NAME_RE, f"{what} must match {NAME_ALPHABET}")
        if len(value) > MAX_NAME:
            raise self.doc.error(path, f"{what} is longer than {MAX_NAME} characters")
        return value

    def env(self, path: KeyPath, value: Any) -> str:
        return check(self.doc, path, value, ENV_RE, f"env var must match {ENV_ALPHABET}")

    def optional_env(self, path: KeyPath, body: dict, key: str) -> str | None:
        value = self.get(path, body, key, str, None)
        return None if value is None else self.env((*path, key), value)

    def optional_name(self, path: KeyPath, body: dict, key: str) -> str | None:
        value = self.get(path, body, key, str, None)
        return None if value is None else self.name((*path, key), value, key)

    def regex(self, path: KeyPath, body: dict, key: str) -> str | None:
        value = self.get(path, body, key, str, None)
        if value is not None:
            try:
                regex.check_pattern(value)  # RE2: linear-time matching, see core/regex.py
            except regex.RegexError as exc:
                raise self.doc.error(
                    (*path, key), f"not a valid RE2 regular expression: {exc}"
                ) from None
        return value

    def relpath(self, path: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or not value or "\n" in value or "\x00" in value:
            raise self.doc.error(path, f"should be a relative path{_date_hint(value)}")
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise self.doc.error(path, "must be a path inside the project directory")
        # paths reach the overlay: compose would interpolate `$`, and YAML can carry neither
        # control characters nor (escaped) characters outside the BMP
        if "$" in value or not value.isprintable() or any(ord(c) > 0xFFFF for c in value):
            raise self.doc.error(path, "use printable characters (none beyond U+FFFF) and no `$`")
        return value

    def container_path(self, path: KeyPath, value: str, secret: str) -> str | None:
        """A consumer's `target:`: an absolute, normalised container path, or a bare file name
        meaning `/run/secrets/<name>`. Returns the absolute path, or None when it is the
        default `/run/secrets/<secret>`."""
        full = f"{SECRETS_MOUNT}/{value}" if "/" not in value else value
        if not plain_path(full, absolute=True):
            raise self.doc.error(
                path,
                "target must be an absolute, normalised container path (/etc/app/server.cert: "
                "no `..`, `.` or `//`, segments of [A-Za-z0-9_.@+-] not starting with a dot) "
                "or a file name under /run/secrets",
            )
        if full.split("/")[1] in KERNEL_DIRS:
            raise self.doc.error(
                path,
                f"target must not be under /{', /'.join(KERNEL_DIRS)}: those are the kernel's "
                "filesystems in a container, not a file the service reads (the engine refuses "
                "or shadows such a mount, and verify would read the kernel's view)",
            )
        return None if full == f"{SECRETS_MOUNT}/{secret}" else full

    def secret_file(self, path: KeyPath, value: str | None) -> str | None:
        """A secret's `file:`: a normalised path inside the secrets dir (`db/password.txt`); no
        absolute path, no `..`, no hidden segment (`.git`)."""
        if value is not None and not plain_path(value, absolute=False):
            raise self.doc.error(
                path,
                "file must be a normalised path inside the secrets dir (db/password.txt: not "
                "absolute, no `..`, `.` or `//`, segments of [A-Za-z0-9_.@+-] not starting "
                "with a dot)",
            )
        return value


KERNEL_DIRS = ("proc", "sys", "dev")  # a consumer's target may not be under these


def plain_path(value: object, *, absolute: bool) -> bool:
    """Whether `value` is a path the manifest allows for a consumer's `target` (absolute) or a
    secret's `file` (relative): normalised, at most MAX_PATH characters, every segment plain
    (`[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*`: no `.`/`..`, no hidden name, no space, `$` or control
    character), and absolute exactly when asked. The journal (core/rotation/codec) checks the
    same."""
    if not isinstance(value, str) or value.startswith("/") != absolute or len(value) > MAX_PATH:
        return False
    segments = value.split("/")[1:] if absolute else value.split("/")
    return (
        posixpath.normpath(value) == value
        and bool(segments)
        and all(_SEGMENT.fullmatch(s) for s in segments)
    )


def check(doc: Located, path: KeyPath, value: Any, pattern: re.Pattern, message: str) -> str:
    """`value` when it is text matching `pattern`; else ConfigError (`message`, or, for a value
    YAML read as another type, e.g. an unquoted `12345` key, that it should be quoted text)."""
    if not isinstance(value, str):
        kind = "true/false" if isinstance(value, bool) else type(value).__name__
        raise doc.error(path, f"{message}; YAML reads this as {kind}, not text: quote it")
    if not pattern.fullmatch(value):
        raise doc.error(path, message)
    return value


def _date_hint(value: Any) -> str:
    """Why a value written as text is no string: YAML 1.1 (this loader) reads an unquoted
    `2030-01-31` as a date, where an editor's YAML 1.2 sees text (the schema cannot tell)."""
    if isinstance(value, datetime.date):
        return " (YAML reads an unquoted date as a date: quote it)"
    return ""


def _integral(value: Any) -> bool:
    """Whether `value` is a float with no fractional part (`1.0`, `32.0`, `1e3`): an integer
    key takes it as that integer, so the validator and the JSON Schema (where `integer` is any
    number with a zero fractional part, and an editor sees `1.0` as 1) agree. Not .nan / .inf."""
    return type(value) is float and math.isfinite(value) and value.is_integer()


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _type_name(typ: type | tuple[type, ...]) -> str:
    names: dict[Any, str] = {
        int: "an integer",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
        (int, float): "a number",
        (str, list): "a string or a list of strings",
    }
    return names.get(typ, str(typ))


def overlay_conflict(
    overlay: str,
    compose_files: list[str] | tuple[str, ...],
    secrets_dir: str,
    state_dir: str,
    manifest_name: str | None = None,
) -> str | None:
    """Why `render` must not write `overlay` (a path relative to the project dir), or None.

    `render` overwrites the overlay: it must not be a compose file, the manifest, the secrets
    dir or anything in it (a secret, a version file), or the state dir or anything in it. Paths
    are compared after lexical normalisation (`./a` is `a`); the project compares resolved
    paths too (symlinks, command-line options)."""
    target = posixpath.normpath(overlay)

    def within(directory: str) -> bool:
        root = posixpath.normpath(directory)
        return target == root or target.startswith(root.rstrip("/") + "/") or root == "."

    if target in {posixpath.normpath(f) for f in compose_files}:
        return "is also listed in compose_files: render would overwrite a compose file"
    if manifest_name is not None and target == posixpath.normpath(manifest_name):
        return "is the manifest itself: render would overwrite it"
    if within(secrets_dir):
        return f"is inside the secrets dir {secrets_dir}: render would overwrite a secret"
    if within(state_dir):
        return f"is inside the state dir {state_dir}: render would overwrite the journal"
    return None
