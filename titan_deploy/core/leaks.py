"""Leak patterns: every form in which a secret value may show up in a log line (DESIGN §5, §9).

PURE: no I/O. `build_patterns` turns secret values into a `PatternSet` (byte patterns, a map from
each pattern back to the (secret, encoding) pairs it stands for, the names of secrets too short to
search, and one compiled matcher); `hits_in_line` says which (secret, encoding) pairs a line
contains. Streaming over files and log streams lives in `titan_deploy.io.logscan`.

Why these encodings: a value leaks raw (printf of a config), base64 (HTTP Basic auth, a JWT-ish
blob, a dumped k8s-style manifest), URL-encoded (a query string), hex (a hexdump or a debug repr)
and JSON-escaped (structured logs). Base64 is searched at all three byte alignments and in both
alphabets, keeping only the characters that the value's bytes fully determine, so a value embedded
anywhere inside a longer base64 blob is still found.

API (what `audit-logs` needs):
    build_patterns({"name": [value, older_value], ...}) -> PatternSet  (.skipped: not searched)
    hits_in_line(line, patterns) -> [(secret, encoding), ...]
Encoding names are those of ENCODINGS: `raw`, `base64@K` / `base64url@K` (K = bytes before the
value in its 3-byte group), `url`, `hex`, `HEX`, `json`.

Safety: nothing here ever puts a value, a pattern or a fragment of one into a repr, a str or an
exception message; reprs show counts only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

MIN_SECRET_LENGTH = 8
"""Values shorter than this (in bytes, after trimming) are not searched: too many false hits."""

MASK_MARKER = b"[MASKED]"
"""What a well-behaved service writes instead of a secret; lines carrying it are counted."""

RAW = "raw"
URL = "url"
HEX_LOWER = "hex"
HEX_UPPER = "HEX"
JSON = "json"
B64_ALPHABETS = {"base64": None, "base64url": b"-_"}


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
"""Every encoding name a hit can carry, in the order they are generated for one value."""

Origin = tuple[str, str]
"""(secret name, encoding name): what a pattern stands for. Never the value."""


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


def _json_forms(value: bytes) -> list[bytes]:
    """JSON string-body forms of a UTF-8 value (ASCII-escaped, and UTF-8 as most loggers write)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return [
        json.dumps(text)[1:-1].encode("ascii"),
        json.dumps(text, ensure_ascii=False)[1:-1].encode(),
    ]


def encodings_of(value: bytes) -> list[tuple[str, bytes]]:
    """Every (encoding, pattern) pair for one value, without a form that repeats an earlier one.

    An encoding that leaves the value unchanged (URL-quoting `abc123xyz`, JSON-escaping plain
    ASCII, base64url of a blob without `+/`) adds nothing but a duplicate report, so the first
    encoding that produces a pattern keeps it.
    """
    forms: list[tuple[str, bytes]] = [(RAW, value)]
    for alphabet, altchars in B64_ALPHABETS.items():
        for k in range(3):
            forms.append((b64_encoding_name(alphabet, k), b64_aligned(value, k, altchars)))
    forms.append((URL, quote(value, safe="").encode("ascii")))
    hexed = binascii.hexlify(value)
    forms += [(HEX_LOWER, hexed), (HEX_UPPER, hexed.upper())]
    forms += [(JSON, form) for form in _json_forms(value)]
    seen: set[bytes] = set()
    unique: list[tuple[str, bytes]] = []
    for encoding, pattern in forms:
        if pattern and pattern not in seen:
            seen.add(pattern)
            unique.append((encoding, pattern))
    return unique


class Matcher:
    """Finds candidate positions of any pattern in a buffer, in one pass over it.

    Leftmost, non-overlapping: a candidate may hide others that overlap it, so callers re-check
    the whole line around each candidate (`hits_in_line`) to report every pattern present there.
    """

    backend = "none"

    def starts(self, buf: bytes) -> Iterable[int]:
        """Start offsets (increasing) of non-overlapping pattern occurrences in `buf`."""
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend}>"


class RegexMatcher(Matcher):
    """Stdlib fallback: one bytes regex, a literal alternation compiled once (~35 MB/s here)."""

    backend = "re"

    def __init__(self, patterns: Iterable[bytes]) -> None:
        self._regex = re.compile(b"|".join(re.escape(p) for p in patterns))

    def starts(self, buf: bytes) -> Iterable[int]:
        return (m.start() for m in self._regex.finditer(buf))


class AhoCorasickMatcher(Matcher):
    """`ahocorasick_rs` (Rust aho-corasick, SIMD prefilter): ~1.4 GB/s here, 40x the regex."""

    backend = "ahocorasick_rs"

    def __init__(self, patterns: Iterable[bytes]) -> None:
        import ahocorasick_rs

        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            list(patterns), matchkind=ahocorasick_rs.MatchKind.LeftmostFirst
        )

    def starts(self, buf: bytes) -> Iterable[int]:
        return (start for _, start, _ in self._automaton.find_matches_as_indexes(buf))


def _default_backend() -> str:
    try:
        import ahocorasick_rs  # noqa: F401
    except ImportError:
        return RegexMatcher.backend
    return AhoCorasickMatcher.backend


def make_matcher(patterns: Iterable[bytes], backend: str | None = None) -> Matcher:
    """The fastest available matcher (or the named one: `ahocorasick_rs`, `re`)."""
    patterns = list(patterns)
    backend = backend or _default_backend()
    kinds = {AhoCorasickMatcher.backend: AhoCorasickMatcher, RegexMatcher.backend: RegexMatcher}
    if backend not in kinds:
        raise ValueError(f"unknown matcher backend {backend!r}")
    if not patterns:
        return Matcher()
    try:
        return kinds[backend](patterns)
    except (ValueError, OverflowError, MemoryError, re.error) as exc:
        # a library's message may quote a pattern: keep only counts, and drop the chained cause
        raise ValueError(
            f"cannot build the {backend} matcher for {len(patterns)} patterns "
            f"({type(exc).__name__})"
        ) from None


@dataclass(frozen=True, repr=False)
class PatternSet:
    """Everything needed to scan for a set of secrets; safe to print (counts only).

    `patterns` are unique and sorted; `origins[p]` lists every (secret, encoding) that pattern `p`
    stands for (two versions or two secrets may share a value); `skipped` names the secrets that
    had a value too short to search; `matcher` finds them all in one pass.
    """

    patterns: tuple[bytes, ...]
    origins: Mapping[bytes, tuple[Origin, ...]]
    skipped: tuple[str, ...]
    matcher: Matcher = field(compare=False)

    @property
    def max_length(self) -> int:
        """Longest pattern (0 if none): overlapping windows must share this length - 1 bytes."""
        return max(map(len, self.patterns), default=0)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Names of the secrets that are searched for."""
        return tuple(sorted({name for o in self.origins.values() for name, _ in o}))

    def __repr__(self) -> str:
        return (
            f"PatternSet(secrets={len(self.secrets)}, patterns={len(self.patterns)}, "
            f"skipped={len(self.skipped)}, backend={self.matcher.backend})"
        )

    __str__ = __repr__


def _searchable_values(values: Iterable[bytes]) -> tuple[list[bytes], bool]:
    """The trimmed values long enough to search, and whether any value was too short.

    Trimmed because services trim the file's content (DESIGN §1): the trailing newline of a secret
    file is never part of what they could log.
    """
    kept: list[bytes] = []
    short = False
    for value in values:
        value = bytes(value).strip()
        if len(value) < MIN_SECRET_LENGTH:
            short = True
        elif value not in kept:
            kept.append(value)
    return kept, short


def build_patterns(
    secrets: Mapping[str, Iterable[bytes]], *, backend: str | None = None
) -> PatternSet:
    """Every searchable form of every value of every secret, deduplicated, with one matcher.

    `secrets` maps a secret name to its values (several during a rotation). A value shorter than
    MIN_SECRET_LENGTH bytes is not searched and its secret is listed in `skipped`. A raw form that
    contains a newline can never appear within one log line and is left out (its encoded forms,
    which have no newline, are still searched).
    """
    origins: dict[bytes, list[Origin]] = {}
    skipped: list[str] = []
    for name, values in secrets.items():
        kept, short = _searchable_values(values)
        if short:
            skipped.append(name)
        for value in kept:
            for encoding, pattern in encodings_of(value):
                if b"\n" in pattern:
                    continue
                found = origins.setdefault(pattern, [])
                if (name, encoding) not in found:
                    found.append((name, encoding))
    patterns = tuple(sorted(origins))
    return PatternSet(
        patterns=patterns,
        origins={p: tuple(sorted(origins[p])) for p in patterns},
        skipped=tuple(sorted(skipped)),
        matcher=make_matcher(patterns, backend),
    )


def origins_in(text: bytes, patterns: PatternSet) -> set[Origin]:
    """Every (secret, encoding) whose pattern occurs in `text`, overlapping ones included.

    Checks each pattern on its own (a C-speed substring search), so that a pattern hidden inside or
    overlapping another one is still reported; callers run it only where the matcher found
    something.
    """
    found: set[Origin] = set()
    for pattern in patterns.patterns:
        if pattern in text:
            found.update(patterns.origins[pattern])
    return found


def hits_in_line(line: bytes, patterns: PatternSet) -> list[Origin]:
    """Sorted (secret, encoding) pairs present in one line: one matcher pass, then a re-check."""
    if next(iter(patterns.matcher.starts(line)), None) is None:
        return []
    return sorted(origins_in(line, patterns))
