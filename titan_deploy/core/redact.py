"""Last line of defence for text that may quote a secret value (compose's stderr, YAML errors).

Compose can echo what an operator pasted into a compose file or a `.env` (a value used as a key,
`Invalid template: "..."`), PyYAML can echo a file that was a secret by mistake, a rotation's
failure reason can quote a tool's stderr. Before any such text is shown, every known value is
replaced by `[REDACTED]` in every form it can take there:

- raw, and with `\\` doubled (how compose's schema errors quote a key), `$` doubled (compose's
  escape);
- quoted: Go `%q` (strconv.Quote, also its ASCII-only `%+q`), JSON (ASCII and not), YAML double-
  and single-quoted, Python repr;
- every encoded form the leak search looks for (core/encodings.py: URL-encoded, hex, base64 at
  all three byte alignments in both alphabets, JSON), plus base64 whole with its padding.

And not only whole: ANY piece of FRAGMENT (8) or more characters of any of those forms is
redacted (of a form shorter than 9 characters: any piece one character shorter than it; of a
multi-line value, not the pieces made only of letters, spaces and separators: its public words,
see `_public_piece`), so a value minus its first character, a wrapped line or a truncated
quote are caught as well. Values shorter than MIN_LENGTH bytes (after trimming; core/encodings.py's
rule) are not searched: too many false hits.

Cost: the pieces are indexed once per Redactor (a set per piece length), so scrubbing a text costs
O(len(text)). The index holds at most MAX_PIECES pieces (values taken shortest first: every real
secret fits); a value beyond that budget (a multi-MB stray file) is still redacted whole, raw and
in its base64/hex forms, but not piece by piece.

Values read in this process from stdin or a prompt (rotate exchange) are `remember`ed, so every
Redactor built afterwards scrubs them too. PURE: no I/O; nothing here ever puts a value into a
repr, a str or an exception message.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from titan_deploy.core.encodings import MIN_LENGTH, RAW, encoded_forms, long_enough  # noqa: F401

FRAGMENT = 8
"""Any piece of at least this many characters of any form of a value is redacted."""

MAX_PIECES = 400_000
"""Budget of indexed pieces (~40 MB); real secrets use a few thousand."""

MARK = "[REDACTED]"

_remembered: list[bytes] = []


def redact(text: str, values: Iterable[bytes]) -> str:
    """`text` with every form and every long piece of every value replaced by [REDACTED].

    `values`: secret values as bytes (surrounding whitespace is ignored; values shorter than
    MIN_LENGTH are skipped). Builds a Redactor each call: for many texts, build one and reuse it.
    """
    return Redactor(values)(text)


def remember(values: Iterable[bytes]) -> None:
    """Record secret values that exist only in this process (read from stdin, a prompt or a
    --from-file): every Redactor built afterwards with `include_remembered` scrubs them too."""
    _remembered.extend(v for v in values if v)


def remembered() -> list[bytes]:
    """The values recorded by `remember` in this process (a copy)."""
    return list(_remembered)


class Redactor:
    """Scrubs texts of a set of values (grown by `add` and `remember`); build once, call often.

    `Redactor(values)(text) -> text`; `.data(obj)` scrubs every string inside dicts/lists.
    `repr()` shows counts only.
    """

    def __init__(self, values: Iterable[bytes], *, include_remembered: bool = True) -> None:
        self._pieces: dict[int, set[str]] = {}
        self._whole: set[str] = set()
        self._sizes: list[int] = []
        self._budget = MAX_PIECES
        self._cores: set[bytes] = set()
        self._follow = include_remembered
        self._seen = 0
        self.add(values)
        self._catch_up()

    @property
    def values(self) -> int:
        """How many distinct values are scrubbed."""
        return len(self._cores)

    def add(self, values: Iterable[bytes]) -> None:
        """Scrub these values too (shortest first, while the piece budget lasts)."""
        new = {v.strip() for v in values if long_enough(v)} - self._cores
        for value in sorted(new, key=len):
            self._cores.add(value)
            forms = value_forms(value)
            cost = sum(max(0, len(f) - _piece_length(f) + 1) for f in forms)
            if cost <= self._budget:
                self._budget -= cost
                public = _public_piece if b"\n" in value else None
                encoded = _binary_forms(value)
                for form in forms:
                    self._index(form, None if form in encoded else public)
            else:
                self._whole.update(_essential_forms(value))
        self._sizes = sorted(self._pieces, reverse=True)

    def _catch_up(self) -> None:
        """Add values `remember`ed since this Redactor was built (or last caught up)."""
        if self._follow and self._seen < len(_remembered):
            self.add(_remembered[self._seen :])
            self._seen = len(_remembered)

    def __repr__(self) -> str:
        pieces = sum(len(s) for s in self._pieces.values())
        return f"Redactor(values={self.values}, pieces={pieces}, whole={len(self._whole)})"

    def __bool__(self) -> bool:
        return bool(self._pieces or self._whole)

    def _index(self, form: str, public: Callable[[str], bool] | None = None) -> None:
        size = _piece_length(form)
        if size < 1:
            return
        pieces = self._pieces.setdefault(size, set())
        found = (form[i : i + size] for i in range(len(form) - size + 1))
        pieces.update(p for p in found if public is None or not public(p))

    def __call__(self, text: str, public: Iterable[str] = ()) -> str:
        """`text` with every known value, in any form or piece, replaced by [REDACTED].

        `public`: texts that are never secret (the compose project name): where one occurs in
        `text` it is shown, and only what a value covers around it is redacted (a `.env` value
        such as `postgres://u:p@db/<project>` would otherwise black out every mention)."""
        self._catch_up()
        if not text or not self:
            return text
        spans = list(self._spans(text))
        if not spans:
            return text
        shown = [(i, i + len(p)) for p in public if p for i in _occurrences(text, p)]
        if shown:  # what is left of a span beside a public name: redacted unless only blanks
            spans = [(a, b) for a, b in _without(spans, shown) if text[a:b].strip()]
            if not spans:
                return text
        return _replace(text, spans)

    def data(self, obj: Any) -> Any:
        """A copy of `obj` (JSON-like: dicts, lists, strings) with every string scrubbed."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {key: self.data(value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.data(item) for item in obj]
        return obj

    def _spans(self, text: str) -> Iterable[tuple[int, int]]:
        for size in self._sizes:
            pieces = self._pieces[size]
            for i in range(len(text) - size + 1):
                if text[i : i + size] in pieces:
                    yield i, i + size
        for needle in self._whole:
            start = text.find(needle)
            while start != -1:
                yield start, start + len(needle)
                start = text.find(needle, start + 1)


def _occurrences(text: str, needle: str) -> Iterable[int]:
    start = text.find(needle)
    while start != -1:
        yield start
        start = text.find(needle, start + 1)


def _without(spans: list[tuple[int, int]], shown: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` minus the ranges `shown` (each span split around them)."""
    out = []
    for start, end in spans:
        pieces = [(start, end)]
        for s_start, s_end in shown:
            pieces = [
                part
                for a, b in pieces
                for part in ((a, min(b, s_start)), (max(a, s_end), b))
                if part[0] < part[1]
            ]
        out += pieces
    return out


_WORDS = re.compile(r"[A-Za-z_ .:=-]+")


def _public_piece(piece: str) -> bool:
    """A piece of a multi-line value (a config file, a PEM key) made of letters, spaces and
    separators only: `password = `, `-----BEGIN PRIVATE KEY` are the file's public words, and
    redacting them would black out names such as `secrets/db_password` in every message. The
    value's secret parts (random runs with digits or symbols) are still redacted piece by piece,
    and the whole value in every form."""
    return _WORDS.fullmatch(piece) is not None


def _piece_length(form: str) -> int:
    return min(FRAGMENT, len(form) - 1)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    spans.sort()
    cursor = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += [text[cursor:start], MARK]
        cursor, start, end = end, s, e
    out += [text[cursor:start], MARK, text[end:]]
    return "".join(out)


# --- the forms of a value ---------------------------------------------------------------------


def value_forms(value: bytes) -> list[str]:
    """Every form in which `value` (trimmed bytes) may be printed; duplicates removed. Holds
    every form of core/encodings.encoded_forms (what the leak search looks for)."""
    text = value.decode("utf-8", "replace")
    forms = [
        text,
        *(form.decode("utf-8") for encoding, form in encoded_forms(value) if encoding != RAW),
        *_padded_base64(value),
        text.replace("\\", "\\\\"),
        text.replace("$", "$$"),
        go_quote(value),
        go_quote(value, ascii_only=True),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        repr(text)[1:-1],
        ascii(text)[1:-1],
        text.replace("'", "''"),
        *_yaml_quoted(text),
    ]
    if "\ufffd" in text:  # not UTF-8: also as Latin-1, as a byte-wise decoder shows it
        forms.append(value.decode("latin-1"))
    return list(dict.fromkeys(f for f in forms if f))


def _essential_forms(value: bytes) -> list[str]:
    """The forms of a value too large to index piece by piece: matched whole."""
    text = value.decode("utf-8", "replace")
    b64 = [base64.b64encode(value, alt).decode().rstrip("=") for alt in (None, b"-_")]
    return list(dict.fromkeys([text, text.replace("\\", "\\\\"), value.hex(), *b64]))


def go_quote(value: bytes, ascii_only: bool = False) -> str:
    """Go's strconv.Quote (`%q`) of `value` without the quotes; `ascii_only`: QuoteToASCII
    (`%+q`). Invalid UTF-8 bytes become `\\xNN`, as Go prints them."""
    out: list[str] = []
    for chunk, valid in _utf8_chunks(value):
        if not valid:
            out.extend(f"\\x{byte:02x}" for byte in chunk)
            continue
        for ch in chunk.decode("utf-8"):
            out.append(_go_char(ch, ascii_only))
    return "".join(out)


_GO_NAMED = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def _go_char(ch: str, ascii_only: bool) -> str:
    if ch in _GO_NAMED:
        return _GO_NAMED[ch]
    code = ord(ch)
    if ch.isprintable() and (code < 0x80 or not ascii_only):
        return ch
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _utf8_chunks(value: bytes) -> Iterable[tuple[bytes, bool]]:
    """Split bytes into (valid UTF-8 run, True) and (invalid bytes, False) chunks."""
    rest = value
    while rest:
        try:
            rest.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start:
                yield rest[: exc.start], True
            yield rest[exc.start : exc.end], False
            rest = rest[exc.end :]
            continue
        yield rest, True
        return


def _yaml_quoted(text: str) -> list[str]:
    """How PyYAML's emitter double-quotes `text` (with and without allow_unicode)."""
    import yaml

    out = []
    for allow_unicode in (True, False):
        try:
            dumped = yaml.dump(
                text, default_style='"', allow_unicode=allow_unicode, width=1 << 30
            ).strip()
        except yaml.YAMLError:
            continue
        if dumped.endswith("..."):
            dumped = dumped[:-3].strip()
        out.append(dumped[1:-1] if dumped.startswith('"') else dumped)
    return out


def _padded_base64(value: bytes) -> list[str]:
    """Standard and URL-safe base64 of the whole value, with its padding."""
    return [base64.b64encode(value, alt).decode() for alt in (None, b"-_")]


def _binary_forms(value: bytes) -> set[str]:
    """The hex and base64 forms: random-looking text, never a multi-line value's public words."""
    binary = {f.decode() for e, f in encoded_forms(value) if e.startswith(("base64", "hex", "HEX"))}
    return binary | set(_padded_base64(value))
