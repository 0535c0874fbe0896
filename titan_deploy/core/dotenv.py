"""Env files (`env_file:` and the interpolation `.env`) read as facts, never as values. Pure.

`scan_env_text` parses the dotenv format the way Compose v2 does (compose-go `dotenv`: `KEY=VALUE`,
`export KEY=VALUE`, YAML-style `KEY: VALUE`, a bare `KEY` inherited from the shell, `#` comments,
single- and double-quoted values that may span lines; `format: raw` takes each line literally)
and keeps only what lint needs about each variable: its name and line, whether the value is
empty, the value itself only when it is a path under /run/secrets/ (the tool's own kind of value,
never a secret), and the name of any manifest secret whose value it contains (compared in memory
with the secret files' values). The text and the values are dropped when the scan returns.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from titan_deploy.core.encodings import MIN_LENGTH
from titan_deploy.core.versions import parse_file

SECRETS_DIR = "/run/secrets/"
MIN_SECRET_LENGTH = MIN_LENGTH  # core/encodings.py: the one minimum-length rule
_EXPORT = re.compile(r"export[ \t]+")
_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]+")
_SPACE = " \t\v\f\r"

State = Literal["set", "empty", "inherit"]


@dataclass(frozen=True)
class EnvVar:
    """One variable of an env file. `state`: non-empty value, empty value, or a bare `NAME`
    (compose takes it from the shell). `secret_path`: the value when it is a /run/secrets/ path.
    `holds`: the manifest secret whose value the value contains, if any."""

    name: str
    line: int
    state: State
    secret_path: str | None = None
    holds: str | None = None


@dataclass(frozen=True)
class EnvFileFacts:
    """What lint knows of one env file: `path` as compose prints it (absolute), `display` for
    messages (relative to the project dir when inside it), and its variables (file order)."""

    path: str
    display: str
    vars: tuple[EnvVar, ...] = ()
    readable: bool = True
    required: bool = True

    def last(self) -> dict[str, EnvVar]:
        """Name -> its last assignment (compose: a later line wins)."""
        return {var.name: var for var in self.vars}


def scan_env_text(
    text: str,
    path: str,
    display: str | None = None,
    values: Mapping[str, bytes] | None = None,
    raw: bool = False,
) -> EnvFileFacts:
    """Facts about an env file's `text`; `values` are secret values (name or `name.vN` -> bytes).

    Never raises on malformed text: what compose would reject is skipped here (compose reports
    it at `up`). The result holds no value except /run/secrets/ paths.
    """
    needles = secret_needles(values or {})
    parsed = _raw_pairs(text) if raw else _dotenv_pairs(text)
    found = tuple(_fact(name, value, line, needles) for name, value, line in parsed)
    return EnvFileFacts(path=path, display=display or path, vars=found)


def _fact(name: str, value: tuple[str, str] | None, line: int, needles: list) -> EnvVar:
    """`value`: (the value as compose sees it, the text to search for secret values)."""
    if value is None:
        return EnvVar(name, line, "inherit")
    effective, searched = value
    holds = next((secret for secret, needle in needles if needle in searched), None)
    is_path = effective.startswith(SECRETS_DIR) and not any(c.isspace() for c in effective)
    return EnvVar(
        name,
        line,
        "set" if effective else "empty",
        secret_path=effective if is_path else None,
        holds=holds,
    )


def _secret_of(key: str) -> str:
    """The secret a values key names: `name`, or `name.vN` (a version, as `core.versions`
    parses it) -> `name`."""
    head = key.rpartition(".")[0]
    parsed = parse_file(key, [head]) if head else None
    return parsed[0] if parsed is not None else key


def secret_needles(values: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """(secret name, text to look for): each value (>= 8 bytes) raw and base64 (std, URL-safe).

    `values`: secret name or `name.vN` (a rotation version) -> value; versions map to the name.
    """
    out = []
    for key, value in sorted(values.items()):
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            continue
        secret = _secret_of(key)
        for form in (value, base64.b64encode(value), base64.urlsafe_b64encode(value)):
            out.append((secret, form.decode("utf-8", "replace")))
    return out


@dataclass(frozen=True)
class Assignment:
    """One `NAME=VALUE` of an env file WITH its value, for `adopt` only (core/adopt.py keeps the
    values apart from everything it reports). `first`/`last`: the lines it spans (a quoted
    value may span several)."""

    name: str
    value: str | None  # None: a bare NAME (compose takes it from the shell)
    first: int
    last: int


def assignments(text: str, raw: bool = False) -> list[Assignment]:
    """Every assignment of a dotenv text in file order, compose-go's grammar (as scan_env_text);
    `raw`: an `env_file:` with `format: raw`, read as Compose reads it (`raw_lines`)."""
    if raw:
        return [Assignment(name, value, line, line) for name, value, line in raw_lines(text)]
    out = []
    for name, value, line, end in _dotenv_spans(text):
        last = text.count("\n", 0, max(end - 1, 0)) + 1 if end > 0 else line
        out.append(Assignment(name, None if value is None else value[0], line, max(line, last)))
    return out


def _raw_pairs(text: str) -> Iterator[tuple[str, tuple[str, str] | None, int]]:
    for name, value, number in raw_lines(text):
        yield name, (None if value is None else (value, value)), number


def raw_lines(text: str) -> Iterator[tuple[str, str | None, int]]:
    """(name, value or None for a bare NAME, line) of an env file with `format: raw`, exactly as
    Compose reads one (the docker CLI's `--env-file` parser, docker/cli pkg/kvfile): lines split
    at `\\n` only, one trailing `\\r` dropped, a BOM dropped from the first line, leading
    whitespace dropped; blank lines and lines starting with `#` skipped; the name is everything
    before the first `=`, the value everything after it, byte for byte (quotes, backslashes,
    `$`, `#` and trailing whitespace are part of it). A name holding whitespace makes Compose
    refuse the file: such a line is skipped here."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not name or any(ch.isspace() for ch in name):
            continue
        yield name, (value if sep else None), number


def _dotenv_pairs(text: str) -> Iterator[tuple[str, tuple[str, str] | None, int]]:
    """(name, value or None for a bare NAME, line) in file order, compose-go's grammar."""
    for name, value, line, _ in _dotenv_spans(text):
        yield name, value, line


def _dotenv_spans(text: str) -> Iterator[tuple[str, tuple[str, str] | None, int, int]]:
    """(name, value or None, line, index just past the assignment) in file order. A BOM at the
    start is skipped, as compose-go's dotenv reader does (the first name would carry it)."""
    i, n = (1 if text.startswith("\ufeff") else 0), len(text)
    while i < n:
        if text[i] == "\n" or text[i] in _SPACE:
            i += 1
            continue
        if text[i] == "#":
            i = _line_end(text, i)
            continue
        line = text.count("\n", 0, i) + 1
        start = _EXPORT.match(text, i)
        i = start.end() if start else i
        j = i
        while j < n and text[j] not in "=:\n":
            j += 1
        name = text[i:j].strip()
        if j >= n or text[j] == "\n":
            if _NAME.fullmatch(name):
                yield name, None, line, j
            i = j
            continue
        value, i = _value(text, j + 1)
        if _NAME.fullmatch(name):
            yield name, value, line, i


def _value(text: str, i: int) -> tuple[tuple[str, str], int]:
    """((value as compose sees it, text to search), index just past it); `i` follows the `=`."""
    while i < len(text) and text[i] in _SPACE:
        i += 1
    if i < len(text) and text[i] in "'\"":
        quote = text[i]
        end = i + 1
        while end < len(text) and (text[end] != quote or text[end - 1] == "\\"):
            end += 1
        value = text[i + 1 : end]
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r").replace('\\"', '"')
        return (value, value), _line_end(text, min(end + 1, len(text)))
    end = _line_end(text, i)
    rest = text[i:end].rstrip()
    # compose cuts an unquoted value at `#`; search the whole line anyway, so that a secret
    # holding a `#` is still recognised
    return (rest.split("#", 1)[0].rstrip(), rest), end


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end
