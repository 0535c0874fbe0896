"""Streaming leak scan of a log: one pass, bounded memory, hits reported as values (DESIGN §5, §9).

The data is read in blocks of about BLOCK_SIZE bytes cut at the last newline, and the matcher of a
`PatternSet` runs over the whole block at once (C/Rust speed, not a Python loop per line). Only
where it finds a candidate is the line around it located (`rfind`/`find` of b"\\n"), numbered (by
counting newlines up to it) and re-checked pattern by pattern, so that overlapping patterns (hex
upper and lower, one value inside another) are all reported.

A line longer than MAX_LINE is not held whole: it is scanned in windows that overlap by the longest
pattern's length - 1, so an occurrence that straddles two windows lies whole inside the second.
(A weak value counts only as a whole token, `core.leaks`: at the cut between two windows the cut
counts as a token boundary, so there the check errs towards reporting, never towards missing.)

API: `scan_file(path, patterns)` and `scan_lines(pieces, patterns, source=..., timestamps=...)`
return a ScanResult (hits, masked_lines, lines, bytes, dropped_hits). A container's logs go
through `scan_lines(container.logs(stream=True, timestamps=True), patterns, source=service,
timestamps=True)`.

A hit names the secret, the encoding, the line number, the source and (optionally) the line's
Docker timestamp. It never carries the matched text or any fragment of the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike

from titan_deploy.core.leaks import MASK_MARKER, Origin, PatternSet, origins_in
from titan_deploy.io.fs import open_regular

BLOCK_SIZE = 1 << 20
"""Bytes handed to the matcher at once. 1 MiB keeps the matcher's result list small even when
every line leaks, and is large enough that per-block Python overhead does not show."""

MAX_LINE = 1 << 20
"""A partial line longer than this is scanned in overlapping windows instead of being held."""

MAX_HITS = 10_000
"""Hits kept in a ScanResult; further ones are only counted (`dropped_hits`), to bound memory."""

_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


@dataclass(frozen=True)
class LeakHit:
    """One (secret, encoding) found on one line: where, never what."""

    secret: str
    encoding: str
    line_no: int
    source: str
    timestamp: str | None = None


@dataclass
class ScanResult:
    """What a scan found: hits (at most MAX_HITS kept), `[MASKED]` lines, lines and bytes read."""

    hits: list[LeakHit] = field(default_factory=list)
    masked_lines: int = 0
    lines: int = 0
    bytes: int = 0
    dropped_hits: int = 0

    def __repr__(self) -> str:
        return (
            f"ScanResult(hits={len(self.hits)}, dropped_hits={self.dropped_hits}, "
            f"masked_lines={self.masked_lines}, lines={self.lines}, bytes={self.bytes})"
        )


def split_timestamp(line: bytes) -> tuple[str | None, int]:
    """The leading Docker timestamp of a line (`2026-11-28T10:00:00.000000000Z msg`), if any,
    and the offset where the message starts."""
    space = line.find(b" ", 0, 40)
    if space > 0 and _TIMESTAMP.fullmatch(line, 0, space):
        return line[:space].decode("ascii"), space + 1
    return None, 0


def rechunk(pieces: Iterable[bytes], size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """Regroup pieces of a stream (lines, or chunks of any size) into blocks of at most `size`.

    Small pieces are joined (a Python step per line would cost more than the scan itself); a
    big piece is cut, so no block, whatever the input, is larger than `size`.
    """
    pending: list[bytes] = []
    held = 0
    for piece in pieces:
        if held + len(piece) > size:
            if pending:
                yield b"".join(pending)
            pending, held = [], 0
            whole = len(piece) - len(piece) % size
            for start in range(0, whole, size):
                yield bytes(piece[start : start + size])
            piece = piece[whole:]
        if piece:
            pending.append(piece)
            held += len(piece)
    if pending:
        yield b"".join(pending)


class _Scanner:
    """State of one scan: the open line (it may span blocks), counts, and the hits so far."""

    def __init__(
        self, patterns: PatternSet, source: str, timestamps: bool, max_line: int, max_hits: int
    ) -> None:
        self.patterns = patterns
        self.source = source
        self.timestamps = timestamps
        self.max_hits = max_hits
        self.overlap = max(patterns.max_length, len(MASK_MARKER)) - 1
        # a window must be longer than the overlap it keeps, or the scan would not advance
        # (and hold a whole Docker timestamp, so a long line's timestamp is in its first window)
        self.max_line = max(max_line, 2 * self.overlap, 64)
        self.result = ScanResult()
        self.line_no = 1  # number of the line that starts (or continues) at the pending bytes
        self.fresh = True  # whether the pending bytes start at the start of a line
        self.open_ts: str | None = None  # timestamp of a long line being scanned in windows
        self.seen_line = 0
        self.seen: set[Origin] = set()
        self.masked_line = 0

    def feed(self, blocks: Iterable[bytes]) -> ScanResult:
        carry = b""
        for block in blocks:
            self.result.bytes += len(block)
            buf = carry + block if carry else block
            cut = buf.rfind(b"\n") + 1
            if cut:
                self.scan(buf, cut)
                carry = buf[cut:]
            elif len(buf) > self.max_line:
                carry = self.scan_window(buf)
            else:
                carry = buf
        if carry:
            self.scan(carry, len(carry))
            self.result.lines += 1
        return self.result

    def scan_window(self, buf: bytes) -> bytes:
        """Scan part of a long line, keep only the overlap that the next window must re-read."""
        if self.fresh:
            self.open_ts = self.split(buf)[0]
        self.scan(buf, len(buf), lines_end=False)
        self.fresh = False
        return buf[len(buf) - self.overlap :] if self.overlap else b""

    def scan(self, buf: bytes, end: int, lines_end: bool = True) -> None:
        """Scan buf[:end]; if `lines_end`, it ends with a complete line (or the stream's end)."""
        view = buf if end == len(buf) else buf[:end]
        counter = _LineCounter(view, self.line_no)
        done = -1
        for start in self.patterns.matcher.starts(view):
            if start >= done:
                done = self.check_line(view, start, counter)
        self.count_masked(view)
        if lines_end:
            newlines = view.count(b"\n")
            self.line_no += newlines
            self.result.lines += newlines
            self.fresh = True

    def count_masked(self, view: bytes) -> None:
        """Count the lines holding MASK_MARKER: a memchr-speed find, jumping to each line's end."""
        counter = _LineCounter(view, self.line_no)
        start = view.find(MASK_MARKER)
        while start >= 0:
            _, line_end, line_no = counter.locate(start)
            if line_no != self.masked_line:
                self.masked_line = line_no
                self.result.masked_lines += 1
            start = view.find(MASK_MARKER, line_end)

    def check_line(self, view: bytes, start: int, counter: _LineCounter) -> int:
        """Report every origin present on the line around `start`; return the line's end."""
        line_start, line_end, line_no = counter.locate(start)
        if line_start == 0 and not self.fresh:
            timestamp, message = self.open_ts, 0
        else:
            timestamp, message = self.split(view[line_start:line_end])
        for secret, encoding in sorted(
            origins_in(view[line_start + message : line_end], self.patterns)
        ):
            self.emit(LeakHit(secret, encoding, line_no, self.source, timestamp))
        return line_end

    def split(self, line: bytes) -> tuple[str | None, int]:
        return split_timestamp(line) if self.timestamps else (None, 0)

    def emit(self, hit: LeakHit) -> None:
        """Keep a hit unless the same (secret, encoding) was already reported for its line."""
        if hit.line_no != self.seen_line:
            self.seen_line, self.seen = hit.line_no, set()
        origin = (hit.secret, hit.encoding)
        if origin in self.seen:
            return
        self.seen.add(origin)
        if len(self.result.hits) < self.max_hits:
            self.result.hits.append(hit)
        else:
            self.result.dropped_hits += 1


class _LineCounter:
    """Line numbers of positions in a block, counting newlines only up to the positions asked
    (which come in increasing order), never the whole block per hit."""

    def __init__(self, view: bytes, first_line: int) -> None:
        self.view = view
        self.pos = 0
        self.line_no = first_line

    def locate(self, at: int) -> tuple[int, int, int]:
        """(start, end, number) of the line holding position `at`; `end` excludes the newline."""
        line_start = self.view.rfind(b"\n", 0, at) + 1
        if line_start > self.pos:
            self.line_no += self.view.count(b"\n", self.pos, line_start)
            self.pos = line_start
        line_end = self.view.find(b"\n", at)
        return line_start, len(self.view) if line_end < 0 else line_end, self.line_no


def scan_lines(
    pieces: Iterable[bytes],
    patterns: PatternSet,
    *,
    source: str = "-",
    timestamps: bool = False,
    max_line: int = MAX_LINE,
    max_hits: int = MAX_HITS,
    block_size: int = BLOCK_SIZE,
) -> ScanResult:
    """Scan a stream given as pieces of bytes, as a binary file or a log stream yields them.

    The pieces are concatenated: lines must keep their b"\\n" (a file opened "rb" yields them so;
    for a list of bare lines pass `(line + b"\\n" for line in lines)`), and chunks may cut a line
    anywhere. With `timestamps`, a leading Docker timestamp (`docker logs --timestamps`) is split
    off each line, not searched, and reported in the hit. Memory stays bounded by about
    BLOCK_SIZE + max_line + the kept hits, whatever the stream's size.
    """
    scanner = _Scanner(patterns, source, timestamps, max_line, max_hits)
    return scanner.feed(rechunk(pieces, block_size))


def scan_file(
    path: str | PathLike[str],
    patterns: PatternSet,
    *,
    source: str | None = None,
    timestamps: bool = False,
    max_line: int = MAX_LINE,
    max_hits: int = MAX_HITS,
    block_size: int = BLOCK_SIZE,
) -> ScanResult:
    """Scan a file in `block_size` reads (no per-line Python work); `source` defaults to the path.

    The keyword options are those of `scan_lines`; `block_size` exists for tests of block edges.
    Only a regular file is opened (io.fs.open_regular): a FIFO, device or socket raises
    UnsafeFile (an OSError) before it is opened, so it can neither block nor stream forever.
    """
    with open_regular(path) as stream:  # a FIFO or device is refused before it is opened
        blocks = iter(lambda: stream.read(block_size), b"")
        scanner = _Scanner(patterns, source or str(path), timestamps, max_line, max_hits)
        return scanner.feed(blocks)
