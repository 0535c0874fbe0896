"""Multi-pattern matchers for the leak search (core/leaks.py builds them, io/logscan.py scans
with them): one pass over a buffer gives the candidate starts of any pattern, and the ends of the
lines holding MASK_MARKER. Pure: memory only; the libraries are imported where a backend is
built.

`make_matcher` picks the fastest that builds: Hyperscan for big buffers with ahocorasick_rs for
small ones (`TieredMatcher`), else ahocorasick_rs, else the stdlib `re` (`RegexMatcher`), or
the one named (`hyperscan`, `ahocorasick_rs`, `re`). Nothing here puts a pattern, a value or a
fragment of one into a repr, a str or an exception message: counts only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

MASK_MARKER = b"[MASKED]"
"""What a well-behaved service writes instead of a secret; lines carrying it are counted."""


class Matcher:
    """Finds candidate positions of any pattern in a buffer, in one pass over it.

    Leftmost, non-overlapping: a candidate may hide others that overlap it, so callers re-check
    the whole line around each candidate (`hits_in_line`) to report every pattern present there.
    """

    backend = "none"

    def starts(self, buf: Buffer) -> Iterable[int]:
        """Start offsets (increasing) of non-overlapping pattern occurrences in `buf`."""
        return ()

    def scan(self, buf: Buffer) -> tuple[list[int], list[int]]:
        """(candidate starts, masked line ends) in `buf` (bytes, bytearray or memoryview), both
        increasing: where each line holding MASK_MARKER ends (its newline's offset, or len(buf)
        for a last line without one), each such line once. A block scan wants both; backends
        that find the second in the same pass (hyperscan) do."""
        return list(self.starts(buf)), [m.end() for m in _MASKED_LINE.finditer(buf)]

    def ready_for(self, size: int) -> None:
        """Prepare for buffers of about `size` bytes (a matcher built lazily builds now, e.g.
        before a scan forks, so the children inherit it instead of each building it)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend}>"


Buffer = bytes | bytearray | memoryview
_MASKED_LINE = re.compile(re.escape(MASK_MARKER) + rb"[^\n]*")


class RegexMatcher(Matcher):
    """Stdlib fallback: one bytes regex, a literal alternation compiled once (~35 MB/s here)."""

    backend = "re"

    def __init__(self, patterns: Iterable[bytes]) -> None:
        self._regex = re.compile(b"|".join(re.escape(p) for p in patterns))

    def starts(self, buf: Buffer) -> Iterable[int]:
        return (m.start() for m in self._regex.finditer(buf))


class AhoCorasickMatcher(Matcher):
    """`ahocorasick_rs` (Rust aho-corasick, SIMD prefilter): ~1.4 GB/s here, 40x the regex."""

    backend = "ahocorasick_rs"

    def __init__(self, patterns: Iterable[bytes]) -> None:
        import ahocorasick_rs

        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            list(patterns), matchkind=ahocorasick_rs.MatchKind.LeftmostFirst
        )

    def starts(self, buf: Buffer) -> Iterable[int]:
        return (start for _, start, _ in self._automaton.find_matches_as_indexes(buf))


class HyperscanMatcher(Matcher):
    """Intel Hyperscan (`hyperscan` wheel, x86_64): every occurrence of every pattern, and the
    lines holding MASK_MARKER, in one pass; ~2.5x ahocorasick_rs on a log (issue 15).

    Overlapping occurrences are all reported (nothing hidden). A masked line is one regex,
    `MARKER[^\\n]*$` (multi-line), which hyperscan reports once per line end however many
    markers the line holds. The scan releases the GIL, so each thread gets its own scratch
    space (a scratch is not shareable); a forked process inherits a copy, which is its own."""

    backend = "hyperscan"

    def __init__(self, patterns: Iterable[bytes]) -> None:
        import hyperscan

        self._hs = hyperscan
        self._lengths = [len(p) for p in patterns]
        expressions = [_hs_literal(p) for p in patterns]
        expressions.append(_hs_literal(MASK_MARKER) + rb"[^\n]*$")
        flags = [0] * len(self._lengths)
        flags.append(hyperscan.HS_FLAG_MULTILINE)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=flags,
        )
        self._local = threading.local()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        return scratch

    def scan(self, buf: Buffer) -> tuple[list[int], list[int]]:
        lengths = self._lengths
        masked = len(lengths)
        starts: list[int] = []
        ends: list[int] = []

        def found(ident: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            if ident == masked:
                ends.append(end)
            else:
                starts.append(end - lengths[ident])

        data = cast(bytes, buf)  # any contiguous buffer: hyperscan reads it in place
        self._db.scan(data, match_event_handler=found, scratch=self._scratch())
        starts.sort()  # reported by end offset: a longer pattern may start earlier
        return starts, ends

    def starts(self, buf: Buffer) -> Iterable[int]:
        return self.scan(buf)[0]


def _hs_literal(pattern: bytes) -> bytes:
    """A byte string as a hyperscan regex that matches exactly it (every byte `\\xHH`: no
    metacharacter, and a NUL byte survives the C string)."""
    return b"".join(b"\\x%02x" % byte for byte in pattern)


class TieredMatcher(Matcher):
    """Hyperscan for big buffers, ahocorasick_rs for small ones: compiling a Hyperscan
    database costs tens of milliseconds, more than `verify` spends scanning a stack's env and
    argv (small texts), so it is built on the first buffer of LARGE bytes or more (or on
    `ready_for`), once, under a lock; small buffers never wait for it."""

    backend = "hyperscan"
    LARGE = 256 << 10

    def __init__(self, patterns: Iterable[bytes]) -> None:
        import hyperscan  # noqa: F401 (fail here, at build, where it is not installed)

        self._patterns = list(patterns)
        self._small: Matcher = _BACKENDS[AhoCorasickMatcher.backend](self._patterns)
        self._large: Matcher | None = None
        self._lock = threading.Lock()

    def _pick(self, size: int) -> Matcher:
        if size < self.LARGE and self._large is None:
            return self._small
        if self._large is None:
            with self._lock:
                if self._large is None:
                    self._large = _build(HyperscanMatcher.backend, self._patterns)
        return self._large

    def ready_for(self, size: int) -> None:
        self._pick(size)

    def starts(self, buf: Buffer) -> Iterable[int]:
        return self._pick(len(buf)).starts(buf)

    def scan(self, buf: Buffer) -> tuple[list[int], list[int]]:
        return self._pick(len(buf)).scan(buf)


_BACKENDS: dict[str, Callable[[list[bytes]], Matcher]] = {
    HyperscanMatcher.backend: HyperscanMatcher,
    AhoCorasickMatcher.backend: AhoCorasickMatcher,
    RegexMatcher.backend: RegexMatcher,
}


def make_matcher(patterns: Iterable[bytes], backend: str | None = None) -> Matcher:
    """The fastest available matcher (or the named one: `hyperscan`, `ahocorasick_rs`, `re`).

    Without a name: hyperscan for big buffers with ahocorasick_rs for small ones
    (`TieredMatcher`), else ahocorasick_rs, else the stdlib regex, the first that imports and
    builds (hyperscan wheels exist for x86_64 only, and need SSSE3). A named backend
    that cannot be built raises ValueError (counts only in the message)."""
    patterns = list(patterns)
    if backend is not None and backend not in _BACKENDS:
        raise ValueError(f"unknown matcher backend {backend!r}")
    if not patterns:
        return Matcher()
    if backend is not None:
        return _build(backend, patterns)
    for name in ("tiered", *_BACKENDS):
        try:
            return _build(name, patterns)
        except (ImportError, ValueError):
            continue
    raise ValueError(f"no matcher could be built for {len(patterns)} patterns")


def _build(backend: str, patterns: list[bytes]) -> Matcher:
    try:
        return TieredMatcher(patterns) if backend == "tiered" else _BACKENDS[backend](patterns)
    except ImportError:
        raise
    except Exception as exc:
        # a library's message may quote a pattern: keep only counts, and drop the chained cause
        raise ValueError(
            f"cannot build the {backend} matcher for {len(patterns)} patterns "
            f"({type(exc).__name__})"
        ) from None
