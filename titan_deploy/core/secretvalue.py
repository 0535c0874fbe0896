"""What a secret value must look like, per kind (README "What `check-secrets` checks"). Pure;
messages never quote a value.

A value is the file's content with the loader's semantics: trimmed of surrounding whitespace, as
services read it (README "The `*_FILE` contract"). Structural problems (NUL, CR, interior
newline) are checked on the raw bytes before that.

Multi-line values (kind `pem`, or `text` with `multiline: true`) keep their interior newlines;
`trimmed` only removes what surrounds the content. `secret_lines` says which lines of a value are
secret material worth searching for (PEM armour, headers and public blocks are not).

Weak values (`weakness`): a value that is guessable is also too common to search for in logs
without false hits. The rule, applied to the trimmed value (or one line of a multi-line value):
  - shorter than 8 characters;
  - fewer than 5 distinct characters (`aaaaaaaaaa`, `abababab`);
  - shorter than 16 characters and shaped like a word or a word and a number: letters in one
    case (an initial capital allowed), then at most 4 digits and one punctuation mark
    (`nextcloud`, `Admin2024!`, `ADMIN`), or digits only (`12345678`);
  - equal, ignoring case, to the name of a secret, a service or the compose project.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

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


WHITESPACE = b" \t\n\v\f"
"""What surrounds a value and changes it for readers that do not trim (CR is refused apart)."""
STRICT_WHITESPACE_KINDS = ("password", "hex", "token", "api-key")
"""Kinds for which any surrounding whitespace is an error (text warns; pem and multi-line text
allow the one trailing newline every editor writes)."""

WEAK_MIN_LENGTH = 8
WEAK_MIN_DISTINCT = 5
WORD_MAX_LENGTH = 15
_WORDISH = re.compile(rb"(?:[A-Z]?[a-z]+|[A-Z]+)[0-9]{0,4}[!?.#*@$%&+_-]?|[0-9]+")


def trimmed(raw: bytes) -> bytes:
    """The value as services read it (the `*_FILE` contract): the content without surrounding
    whitespace. Interior newlines of a multi-line value are kept."""
    return raw.strip()


def stripped(raw: bytes, multiline: bool = False) -> bytes:
    """What `check-secrets --fix` writes back: the content without surrounding whitespace, plus
    one final newline for a multi-line value (normal for PEM and text files). CR is left alone
    (a CRLF file is refused, not repaired)."""
    content = raw.strip(WHITESPACE)
    return content + b"\n" if multiline and content else content


def whitespace_ok(raw: bytes, multiline: bool = False) -> bool:
    """Whether the file has nothing around its content that readers could disagree about: nothing
    at all, or (multi-line values only) exactly one trailing newline."""
    content = raw.strip(WHITESPACE)
    return raw == content or (multiline and raw == content + b"\n")


def weakness(value: bytes, names: Iterable[str] = ()) -> str | None:
    """Why a (trimmed) value is guessable and too common to search for without noise, or None.

    The rule is in the module docstring. The reason never quotes the value (nor, since the value
    would be that name, which name it equals)."""
    if len(value) < WEAK_MIN_LENGTH:
        return f"shorter than {WEAK_MIN_LENGTH} characters"
    if len(set(value)) < WEAK_MIN_DISTINCT:
        return f"fewer than {WEAK_MIN_DISTINCT} distinct characters"
    if len(value) <= WORD_MAX_LENGTH and _WORDISH.fullmatch(value):
        return "a word, a word and a number, or only digits"
    lowered = value.lower()
    if any(lowered == name.lower().encode("utf-8", "replace") for name in names if name):
        return "equal to the name of a secret, a service or the project"
    return None


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
    if spec.kind == "pem":
        return pem_problem(value)
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
    import secrets as _random  # here, not at the top: check-secrets never generates (issue 15)

    if spec.kind == "hex":
        return _random.token_hex(spec.bytes or 32).encode()
    size = max(32, spec.min_length)
    while True:
        value = _random.token_urlsafe(size)[: max(spec.min_length, 43)]
        if len(value) >= spec.min_length and not value.startswith("-"):
            return value.encode()


# --- PEM (RFC 7468, and RFC 1421 headers of legacy encrypted keys) ------------------------------

PUBLIC_PEM_LABELS = frozenset(
    {
        "CERTIFICATE",
        "TRUSTED CERTIFICATE",
        "X509 CERTIFICATE",
        "X509 CRL",
        "CERTIFICATE REQUEST",
        "NEW CERTIFICATE REQUEST",
        "ATTRIBUTE CERTIFICATE",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "SSH2 PUBLIC KEY",
        "PKCS7",
        "CMS",
        "DH PARAMETERS",
        "X9.42 DH PARAMETERS",
        "EC PARAMETERS",
    }
)
"""Blocks that are not secret: a certificate chain next to a key is not searched for in logs."""

_LABEL = rb"[\x21-\x2c\x2e-\x7e]+(?:[- ][\x21-\x2c\x2e-\x7e]+)*"
_BEGIN = re.compile(rb"-----BEGIN (" + _LABEL + rb")-----")
_END = re.compile(rb"-----END (" + _LABEL + rb")-----")
_HEADER = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*: [\x20-\x7e]*")
_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True)
class PemLine:
    """One line of a PEM text, classified: what it is and in which block (label) it lies."""

    number: int  # 1-based
    role: str  # begin | end | header | blank | data | outside
    label: str | None = None


def pem_lines(value: bytes) -> list[PemLine]:
    """Classify every line: armour (begin/end), RFC 1421 headers, blank lines, base64 `data`
    inside a block, or text `outside` any block. Tolerant: never raises, even on garbage."""
    out: list[PemLine] = []
    label: str | None = None
    in_headers = False
    for number, line in enumerate(value.split(b"\n"), start=1):
        begin, end = _BEGIN.fullmatch(line), _END.fullmatch(line)
        if begin:
            label, in_headers = begin[1].decode("ascii"), True
            out.append(PemLine(number, "begin", label))
        elif end:
            out.append(PemLine(number, "end", end[1].decode("ascii")))
            label = None
        elif not line.strip():
            out.append(PemLine(number, "blank", label))
            in_headers = False
        elif label is None:
            out.append(PemLine(number, "outside"))
        elif in_headers and _HEADER.fullmatch(line):
            out.append(PemLine(number, "header", label))
        else:
            in_headers = False
            out.append(PemLine(number, "data", label))
    return out


def pem_problem(value: bytes) -> str | None:
    """Why `value` (trimmed) is not a sequence of well-formed PEM blocks, or None.

    Each block: `-----BEGIN X-----`, optional `Name: value` headers and a blank line, base64
    lines, `-----END X-----` with the same label; blank lines may separate blocks. Problems name
    line numbers, never content."""
    lines = value.split(b"\n")
    classified = pem_lines(value)
    if not any(item.role == "begin" for item in classified):
        return "no -----BEGIN ...----- block"
    opened: PemLine | None = None
    body: list[bytes] = []
    for item in classified:
        text = lines[item.number - 1]
        if item.role == "begin":
            if opened is not None:
                return f"line {item.number}: BEGIN inside the block opened at line {opened.number}"
            opened, body = item, []
        elif item.role == "end":
            if opened is None:
                return f"line {item.number}: END without a BEGIN"
            problem = _block_problem(opened, item, body)
            if problem:
                return problem
            opened = None
        elif item.role == "outside":
            return f"line {item.number}: text outside a BEGIN/END block"
        elif item.role == "data":
            if not _BASE64_LINE.fullmatch(text):
                return f"line {item.number}: not a base64 line"
            body.append(text)
        elif item.role == "blank" and opened is not None and body:
            return f"line {item.number}: blank line inside the block opened at line {opened.number}"
    if opened is not None:
        return f"the block opened at line {opened.number} has no END line"
    return None


def _block_problem(opened: PemLine, end: PemLine, body: list[bytes]) -> str | None:
    if end.label != opened.label:
        return f"line {end.number}: END label differs from the BEGIN label at line {opened.number}"
    if not body:
        return f"the block opened at line {opened.number} is empty"
    try:
        base64.b64decode(b"".join(body), validate=True)
    except (binascii.Error, ValueError):
        return f"the block opened at line {opened.number} is not valid base64"
    return None


def secret_lines(value: bytes) -> list[bytes]:
    """The parts of a (trimmed) value that are secret material, for leak searches.

    A single-line value is itself. Of a multi-line value: every non-blank line, stripped of
    surrounding whitespace, except PEM armour (BEGIN/END), PEM headers and the lines of public
    blocks (certificates, public keys, parameters)."""
    if b"\n" not in value:
        return [value]
    lines = value.split(b"\n")
    out = []
    for item in pem_lines(value):
        if item.role == "outside" or (item.role == "data" and item.label not in PUBLIC_PEM_LABELS):
            line = lines[item.number - 1].strip()
            if line and line not in out:
                out.append(line)
    return out
