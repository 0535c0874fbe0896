"""Streaming leak scan of a log: one pass, bounded memory, hits reported as values
(ARCHITECTURE.md invariant 1).

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

import itertools
import os
import pickle
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from os import PathLike

from titan_deploy.core.leaks import Origin, PatternSet, origins_in
from titan_deploy.core.matchers import MASK_MARKER
from titan_deploy.errors import RuntimeFailure
from titan_deploy.io.fs import open_regular

BLOCK_SIZE = 1 << 20
"""Bytes handed to the matcher at once. 1 MiB keeps the matcher's result list small even when
every line leaks, and is large enough that per-block Python overhead does not show."""

MAX_LINE = 1 << 20
"""A partial line longer than this is scanned in overlapping windows instead of being held."""

MAX_HITS = 10_000
"""Hits kept in a ScanResult; further ones are only counted (`dropped_hits`), to bound memory."""

FILE_BLOCK_SIZE = 16 << 20
"""Bytes read (into one reused buffer) and scanned at once from a file: big enough that the
per-block Python work vanishes, small enough for the memory bound (ARCHITECTURE.md invariant 4)."""

PARALLEL_MIN = 64 << 20
"""A file at least this big is scanned by several processes (forking costs a few ms)."""

MAX_WORKERS = 4

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
    """State of one scan: the open line (it may span blocks), counts, and the hits so far.

    A block is scanned in place between offsets (`scan(buf, start, end)`): no copy of it is
    made, only the partial line at its end is carried to the next block."""

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
        self.open_masked = False  # whether the long line being scanned was counted as masked
        self.seen_line = 0
        self.seen: set[Origin] = set()

    def feed(self, blocks: Iterable[bytes | bytearray]) -> ScanResult:
        """Scan every block; a block may be reused by its producer once the next is asked for."""
        carry = b""
        for block in blocks:
            size = len(block)
            self.result.bytes += size
            start = 0
            if carry:
                first = block.find(b"\n")
                if first < 0:
                    carry = self.hold(carry + block)
                    continue
                head = carry + block[: first + 1]
                self.scan(head, 0, len(head))
                start = first + 1
            cut = block.rfind(b"\n", start) + 1
            if cut > start:
                self.scan(block, start, cut)
            carry = self.hold(bytes(block[max(cut, start) :]))
        if carry:
            self.scan(carry, 0, len(carry))
            self.result.lines += 1
        return self.result

    def hold(self, partial: bytes) -> bytes:
        """What of a partial line to keep: all of it, or past max_line only the overlap."""
        return self.scan_window(partial) if len(partial) > self.max_line else partial

    def scan_window(self, buf: bytes) -> bytes:
        """Scan part of a long line, keep only the overlap that the next window must re-read."""
        if self.fresh:
            self.open_ts = self.split(buf)[0]
        self.scan(buf, 0, len(buf), lines_end=False)
        self.fresh = False
        return buf[len(buf) - self.overlap :] if self.overlap else b""

    def scan(self, buf: bytes | bytearray, start: int, end: int, lines_end: bool = True) -> None:
        """Scan buf[start:end]; if `lines_end`, it ends with a complete line (or the stream's
        end). One matcher pass over the range; Python work only at candidates and markers."""
        whole = start == 0 and end == len(buf)
        starts, markers = self.patterns.matcher.scan(buf if whole else memoryview(buf)[start:end])
        counter = _LineCounter(buf, start, end, self.line_no)
        if starts:
            done = -1
            for at in starts:
                if at + start >= done:
                    done = self.check_line(buf, at + start, counter)
        if markers:
            self.count_masked(buf, start, end, markers)
        if lines_end:
            # the newlines the counter has not counted yet (it counted up to the last hit)
            newlines = counter.line_no - self.line_no + buf.count(b"\n", counter.pos, end)
            self.line_no += newlines
            self.result.lines += newlines
            self.fresh = True
            self.open_masked = False

    def count_masked(self, buf: bytes | bytearray, start: int, end: int, ends: list[int]) -> None:
        """Count the lines holding MASK_MARKER, given where each ends (relative to `start`;
        `end - start` for a line the range does not finish). A long line scanned in windows
        counts once: in its first window that shows a marker."""
        first_end = buf.find(b"\n", start, end)
        first_end = end if first_end < 0 else first_end
        for at in ends:
            at += start
            if at <= first_end and not self.fresh and self.open_masked:
                continue  # the long line an earlier window counted
            if at == end:
                self.open_masked = True  # a line the range does not finish: it may go on
            self.result.masked_lines += 1

    def check_line(self, buf: bytes | bytearray, at: int, counter: _LineCounter) -> int:
        """Report every origin present on the line around `at`; return the line's end."""
        line_start, line_end, line_no = counter.locate(at)
        if line_start == counter.start and not self.fresh:
            timestamp, message = self.open_ts, 0
        else:
            timestamp, message = self.split(bytes(buf[line_start : min(line_end, line_start + 64)]))
        for secret, encoding in sorted(
            origins_in(bytes(buf[line_start + message : line_end]), self.patterns)
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
    """Line numbers of positions in buf[start:end], counting newlines only up to the positions
    asked (which come in increasing order), never the whole range per hit."""

    def __init__(self, buf: bytes | bytearray, start: int, end: int, first_line: int) -> None:
        self.buf = buf
        self.start = start
        self.end = end
        self.pos = start
        self.line_no = first_line

    def locate(self, at: int) -> tuple[int, int, int]:
        """(start, end, number) of the line holding position `at`; `end` excludes the newline."""
        line_start = self.buf.rfind(b"\n", self.start, at) + 1 or self.start
        if line_start > self.pos:
            self.line_no += self.buf.count(b"\n", self.pos, line_start)
            self.pos = line_start
        line_end = self.buf.find(b"\n", at, self.end)
        return line_start, self.end if line_end < 0 else line_end, self.line_no


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
    block_size: int = FILE_BLOCK_SIZE,
    workers: int | None = None,
) -> ScanResult:
    """Scan a file in `block_size` reads (no per-line Python work); `source` defaults to the path.

    The keyword options are those of `scan_lines`; `block_size` exists for tests of block edges.
    A file of PARALLEL_MIN bytes or more is cut at line starts into `workers` ranges (default:
    the CPUs this process may use, at most MAX_WORKERS), each scanned by a forked process (the
    pattern set is inherited, never sent anywhere; results travel back over a pipe as hits,
    which hold names and line numbers only); line numbers are then made global. Only a regular
    file is opened (io.fs.open_regular): a FIFO, device or socket raises UnsafeFile (an
    OSError) before it is opened, so it can neither block nor stream forever.
    """
    label = source or str(path)
    with open_regular(path) as stream:  # a FIFO or device is refused before it is opened
        fd = stream.fileno()
        size = os.fstat(fd).st_size
        count = _worker_count(workers) if size >= PARALLEL_MIN else 1
        patterns.matcher.ready_for(min(size, block_size))  # built once, before any fork
        ranges = _ranges(fd, size, count, block_size)

        def one(span: tuple[int, int | None]) -> ScanResult:
            scanner = _Scanner(patterns, label, timestamps, max_line, max_hits)
            return scanner.feed(_blocks(fd, span[0], span[1], block_size))

        results = _in_processes(one, ranges) if len(ranges) > 1 else [one(ranges[0])]
    return _joined(results, max_hits)


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def _ranges(fd: int, size: int, count: int, probe: int) -> list[tuple[int, int | None]]:
    """`count` byte ranges covering the file, each starting at a line start (the last one
    open-ended: a log still growing is read to its end). A cut with no newline within `probe`
    bytes after it is dropped (its range joins the previous one)."""
    cuts = [0]
    for k in range(1, count):
        at = size * k // count
        if at <= cuts[-1]:
            continue
        ahead = os.pread(fd, probe, at - 1)
        newline = ahead.find(b"\n")
        if newline >= 0 and at + newline < size:
            cuts.append(at + newline)
    cuts = sorted(set(cuts))
    return [(lo, hi) for lo, hi in itertools.pairwise(cuts)] + [(cuts[-1], None)]


def _blocks(fd: int, start: int, end: int | None, size: int) -> Iterator[bytearray | bytes]:
    """The bytes of the file from `start` to `end` (None: its end) in reads of `size` into one
    reused buffer (positional reads: the fd's offset is shared with forked processes)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    offset = start
    while end is None or offset < end:
        want = size if end is None else min(size, end - offset)
        got = (
            os.preadv(fd, [view[:want]], offset)
            if hasattr(os, "preadv")
            else _pread(fd, view, want, offset)
        )
        if not got:
            return
        offset += got
        yield buffer if got == size else buffer[:got]


def _pread(fd: int, view: memoryview, want: int, offset: int) -> int:
    data = os.pread(fd, want, offset)
    view[: len(data)] = data
    return len(data)


def _in_processes(
    scan: Callable[[tuple[int, int | None]], ScanResult], ranges: list[tuple[int, int | None]]
) -> list[ScanResult]:
    """Run `scan` over each range, all but the last in a forked child (which writes its pickled
    ScanResult to a pipe and exits without running any cleanup of the parent's), the last here.
    A child that fails makes this raise RuntimeFailure (exit 3; no detail of the data)."""
    children = []
    for span in ranges[:-1]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: scan, report, and leave at once
            code = 0
            try:
                os.close(read_fd)
                with os.fdopen(write_fd, "wb") as out:
                    pickle.dump(scan(span), out, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    results: list[ScanResult | None] = []
    try:
        last = scan(ranges[-1])
    finally:
        for pid, read_fd in children:
            with os.fdopen(read_fd, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            ok = os.waitstatus_to_exitcode(status) == 0 and data
            results.append(pickle.loads(data) if ok else None)
    failed = sum(r is None for r in results)
    if failed:
        raise RuntimeFailure(
            f"{failed} of the {len(ranges)} processes scanning parts of the file failed: "
            "nothing is reported from a partial scan (run the command again)"
        )
    return [*(r for r in results if r is not None), last]


def _joined(parts: list[ScanResult], max_hits: int) -> ScanResult:
    """One result from the results of consecutive ranges: line numbers offset by the lines of
    the ranges before (each range but the last ends with a newline), hits capped again."""
    out = ScanResult()
    offset = 0
    for part in parts:
        for hit in part.hits:
            if len(out.hits) < max_hits:
                out.hits.append(replace(hit, line_no=hit.line_no + offset))
            else:
                out.dropped_hits += 1
        out.dropped_hits += part.dropped_hits
        out.masked_lines += part.masked_lines
        out.lines += part.lines
        out.bytes += part.bytes
        offset += part.lines
    return out
