"""The encoded forms of a secret value, and the shortest value worth looking for. PURE.

One owner for both facts: the leak search (`core.leaks`, behind `audit-logs` and verify's leak
checks) looks for exactly `encoded_forms(value)`, and the redactor (`core.redact`, behind every
line the CLI prints) hides every one of them too, plus the quoted forms only printed text has.
A value shorter than MIN_LENGTH bytes (trimmed) is neither searched nor redacted.

Why these encodings: a value leaks raw (printf of a config), base64 (HTTP Basic auth, a JWT-ish
blob, a dumped k8s-style manifest), URL-encoded (a query string: `%XX` in either case, `+` for a
space, `/` kept or not), hex (a hexdump or a debug repr) and JSON-escaped (structured logs).
Base64 is taken at all three byte alignments and in both alphabets, keeping only the characters
the value's bytes fully determine, so a value anywhere inside a longer blob is still found.

Nothing here puts a value into a repr, a str or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote, quote_plus

MIN_LENGTH = 8
"""Values (bytes, trimmed) shorter than this are neither searched for nor redacted: they match
too much to mean anything."""

RAW = "raw"
URL = "url"
HEX_LOWER = "hex"
HEX_UPPER = "HEX"
JSON = "json"
B64_ALPHABETS = {"base64": None, "base64url": b"-_"}
_PERCENT = re.compile(rb"%[0-9A-F]{2}")


def long_enough(value: bytes) -> bool:
    """Whether `value` (trimmed) is at least MIN_LENGTH bytes: the one minimum-length rule."""
    return len(value.strip()) >= MIN_LENGTH


def b64_encoding_name(alphabet: str, offset: int) -> str:
    """Name of a base64 form at a byte offset: `base64url@2` = 2 bytes precede the value."""
    return f"{alphabet}@{offset}"


ENCODINGS: tuple[str, ...] = (
    RAW,
    *(b64_encoding_name(a, k) for a in B64_ALPHABETS for k in range(3)),
    URL,
    HEX_LOWER,
    HEX_UPPER,
    JSON,
)
"""Every encoding name, in the order `encoded_forms` generates them."""


def b64_aligned(value: bytes, offset: int, altchars: bytes | None = None) -> bytes:
    """The base64 characters of `value` that do not depend on what surrounds it in a longer blob.

    Encoding `offset` filler bytes + value makes the value start `offset` bytes into a 3-byte
    group, like it would inside a longer blob. Output char i covers input bits [6i, 6i+6): it is
    fully determined by the value only when those bits lie within the value's bits
    [8*offset, 8*(offset+len)). The leading chars mix in the filler, the trailing ones mix in
    whatever follows (or the padding), so both are cut off.
    """
    encoded = base64.b64encode(bytes(offset) + value, altchars)
    start = (8 * offset + 5) // 6
    end = 8 * (offset + len(value)) // 6
    return encoded[start:end]


def url_forms(value: bytes) -> list[bytes]:
    """URL-encodings: `/` escaped or kept, `+` for a space, `%XX` upper and lower case."""
    forms = [quote(value, safe=""), quote(value, safe="/"), quote_plus(value)]
    encoded = [f.encode("ascii") for f in forms]
    return [*encoded, *(_PERCENT.sub(lambda m: m.group(0).lower(), f) for f in encoded)]


def json_forms(value: bytes) -> list[bytes]:
    """JSON string-body forms of a UTF-8 value (ASCII-escaped, and UTF-8 as most loggers write);
    none for a value that is not UTF-8."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return [
        json.dumps(text)[1:-1].encode("ascii"),
        json.dumps(text, ensure_ascii=False)[1:-1].encode(),
    ]


def encoded_forms(value: bytes) -> list[tuple[str, bytes]]:
    """Every (encoding, form) of one value, without a form that repeats an earlier one.

    An encoding that leaves the value unchanged (URL-quoting `abc123xyz`, JSON-escaping plain
    ASCII, base64url of a blob without `+/`) adds nothing but a duplicate, so the first encoding
    that produces a form keeps it.
    """
    forms: list[tuple[str, bytes]] = [(RAW, value)]
    for alphabet, altchars in B64_ALPHABETS.items():
        for k in range(3):
            forms.append((b64_encoding_name(alphabet, k), b64_aligned(value, k, altchars)))
    forms += [(URL, form) for form in url_forms(value)]
    hexed = binascii.hexlify(value)
    forms += [(HEX_LOWER, hexed), (HEX_UPPER, hexed.upper())]
    forms += [(JSON, form) for form in json_forms(value)]
    seen: set[bytes] = set()
    unique: list[tuple[str, bytes]] = []
    for encoding, form in forms:
        if form and form not in seen:
            seen.add(form)
            unique.append((encoding, form))
    return unique
