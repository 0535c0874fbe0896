"""What a secret value must look like, per kind (DESIGN §6). Pure; messages never quote a value.

A value is the file's content with the loader's semantics: trimmed of surrounding whitespace, as
services read it (DESIGN §1). Structural problems (NUL, CR, interior newline) are checked on the
raw bytes before that.
"""

from __future__ import annotations

import re
import secrets as _random

from titan_deploy.core import regex
from titan_deploy.core.limits import DOCKER_SECRET_LIMIT as DOCKER_SECRET_LIMIT  # re-export
from titan_deploy.core.manifest import SecretSpec

PLACEHOLDERS = {
    "changeme",
    "change_me",
    "change-me",
    "__change_me__",
    "replace_me",
    "__replace_me__",
    "replaceme",
    "your_key",
    "your_secret",
    "your_api_key",
    "your_api_secret",
    "your-api-key",
    "placeholder",
    "todo",
    "fixme",
    "secret",
    "password",
    "xxx",
    "xxxxxxxx",
    "<fill me>",
    "fill_me_in",
}
_HEX_ANY_CASE = re.compile(rb"^[0-9A-Fa-f]+$")
_TOKEN = re.compile(rb"^[A-Za-z0-9_\-.~+/=]+$")
_PRINTABLE_NO_SPACE = re.compile(rb"^[\x21-\x7e]+$")


def trimmed(raw: bytes) -> bytes:
    return raw.strip()


def is_placeholder(value: bytes, example: bytes | None) -> bool:
    """A known placeholder word, or exactly the shipped example file's content."""
    if example is not None and value == example.strip():
        return True
    lowered = value.decode("utf-8", "replace").strip().lower()
    return lowered in PLACEHOLDERS or lowered.strip("_<>{} ") in PLACEHOLDERS


def kind_problem(spec: SecretSpec, value: bytes) -> str | None:
    """Why `value` does not fit the secret's kind, or None. Never quotes the value."""
    length = len(value)
    if spec.kind == "hex":
        want = 2 * (spec.bytes or 0)
        if not _HEX_ANY_CASE.fullmatch(value):
            return "not hexadecimal (expected the output of `openssl rand -hex N`)"
        if length != want:
            return f"expected {want} hex characters ({spec.bytes} bytes), found {length}"
        return None
    if spec.kind in ("password", "token", "api-key") and (b" " in value or b"\t" in value):
        return "contains whitespace"
    if length < spec.min_length:
        return f"too short: {length} characters, at least {spec.min_length} required"
    if length > spec.max_length:
        return f"too long: {length} characters, at most {spec.max_length} allowed"
    return _charset_problem(spec, value) or _pattern_problem(spec, value)


def _charset_problem(spec: SecretSpec, value: bytes) -> str | None:
    if spec.kind in ("api-key", "password") and not _PRINTABLE_NO_SPACE.fullmatch(value):
        return "contains non-printable or non-ASCII characters"
    if spec.kind == "token" and not _TOKEN.fullmatch(value):
        return "contains characters outside a URL-safe token alphabet"
    if spec.kind == "text":
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return "is not valid UTF-8 text"
    return None


def _pattern_problem(spec: SecretSpec, value: bytes) -> str | None:
    if spec.pattern is None:
        return None
    text = value.decode("utf-8", "replace")
    try:  # RE2, linear time: a catastrophic pattern cannot hang the check (core/regex.py)
        matched = regex.fullmatch(spec.pattern, text)
    except regex.RegexError as exc:
        return f"cannot be checked: the manifest's `pattern` is not a valid RE2 regex ({exc})"
    if not matched:
        return "does not match the manifest's `pattern`"
    return None


def generate(spec: SecretSpec) -> bytes:
    """A fresh crypto-random value for a generatable secret (hex, password, token)."""
    if spec.kind == "hex":
        return _random.token_hex(spec.bytes or 32).encode()
    size = max(32, spec.min_length)
    while True:
        value = _random.token_urlsafe(size)[: max(spec.min_length, 43)]
        if len(value) >= spec.min_length and not value.startswith("-"):
            return value.encode()
