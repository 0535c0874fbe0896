"""Streaming leak scan (titan_deploy.io.logscan): block edges, long lines, timestamps, memory."""

from __future__ import annotations

import base64
import os
import secrets as pysecrets
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.paths import REPO
from titan_deploy.core.encodings import encoded_forms
from titan_deploy.core.leaks import PatternSet, build_patterns, origins_in
from titan_deploy.core.matchers import MASK_MARKER
from titan_deploy.errors import RuntimeFailure
from titan_deploy.io import logscan
from titan_deploy.io.logscan import (
    LeakHit,
    ScanResult,
    rechunk,
    scan_file,
    scan_lines,
    split_timestamp,
)

TS = b"2026-11-28T10:00:00.000000000Z"


def canary() -> bytes:
    return pysecrets.token_urlsafe(18).encode() + b"/+="


def reference(data: bytes, ps: PatternSet, *, timestamps: bool = False) -> ScanResult:
    """The obviously right, slow scan: split into lines, check every line on its own."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    result = ScanResult(lines=len(lines), bytes=len(data))
    for line_no, line in enumerate(lines, 1):
        ts, start = split_timestamp(line) if timestamps else (None, 0)
        for secret, encoding in sorted(origins_in(line[start:], ps)):
            result.hits.append(LeakHit(secret, encoding, line_no, "-", ts))
        result.masked_lines += MASK_MARKER in line
    return result


def same(a: ScanResult, b: ScanResult) -> None:
    key = lambda h: (h.line_no, h.secret, h.encoding)  # noqa: E731
    assert sorted(a.hits, key=key) == sorted(b.hits, key=key)
    assert (a.masked_lines, a.lines, a.bytes) == (b.masked_lines, b.lines, b.bytes)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture(scope="module")
def secret() -> bytes:
    return canary()


@pytest.fixture(scope="module", params=["hyperscan", "ahocorasick_rs", "re"])
def ps(request: pytest.FixtureRequest, secret: bytes) -> PatternSet:
    return build_patterns({"api": [secret], "db": [b"db-password-123456"]}, backend=request.param)


def test_hits_name_secret_encoding_line_and_source(ps: PatternSet, secret: bytes) -> None:
    lines = [b"boot\n", b"key=" + secret + b"\n", b"ok\n", b"auth " + secret.hex().encode() + b"\n"]
    result = scan_lines(lines, ps, source="titan-brain")
    assert result.hits == [
        LeakHit("api", "raw", 2, "titan-brain"),
        LeakHit("api", "hex", 4, "titan-brain"),
    ]
    assert (result.lines, result.bytes, result.masked_lines) == (4, sum(map(len, lines)), 0)


def test_one_hit_per_secret_and_encoding_per_line(ps: PatternSet, secret: bytes) -> None:
    result = scan_lines([secret + b" and again " + secret + b"\n"], ps)
    assert result.hits == [LeakHit("api", "raw", 1, "-")]


@pytest.mark.parametrize("block", [16, 17, 31, 64, 100])
def test_hits_straddling_block_edges_keep_their_line_numbers(
    ps: PatternSet, secret: bytes, block: int
) -> None:
    encoded = base64.b64encode(b"xy" + secret)
    lines = [f"line {i} filler {'.' * (i % 13)}".encode() for i in range(60)]
    for at in (3, 17, 18, 40, 59):
        lines[at] += b" leak=" + (secret if at % 2 else encoded) + b" [MASKED]"
    data = b"\n".join(lines) + b"\n"
    expected = reference(data, ps)
    assert len(expected.hits) == 5
    same(scan_lines(pieces(data, 7), ps, block_size=block), expected)
    same(scan_lines(pieces(data, 1000), ps, block_size=block), expected)


def test_file_and_stream_without_final_newline(
    tmp_path: Path, ps: PatternSet, secret: bytes
) -> None:
    data = b"a\n\nb " + secret  # 3 lines, the last one unterminated
    path = tmp_path / "app.log"
    path.write_bytes(data)
    for result in (scan_file(path, ps, block_size=4), scan_lines([data], ps, source=str(path))):
        assert result.hits == [LeakHit("api", "raw", 3, str(path))]
        assert (result.lines, result.bytes) == (3, len(data))
    assert scan_lines([], ps) == ScanResult()


def test_very_long_line_is_scanned_in_overlapping_windows(ps: PatternSet, secret: bytes) -> None:
    # 3 MiB line, secrets planted across the 1 MiB window edges; memory never holds the line.
    chunk = os.urandom(1 << 19).hex().encode()  # 1 MiB of hex noise: no pattern in it
    long_line = bytearray(TS + b" " + chunk * 3)
    for edge in (1 << 20, 2 << 20):
        long_line[edge - 5 : edge - 5 + len(secret)] = secret
    data = b"first\n" + bytes(long_line) + b" [MASK" + b"ED]\nlast " + secret + b"\n"
    got = scan_lines(pieces(data, 65536), ps, timestamps=True)
    assert got.hits == [
        LeakHit("api", "raw", 2, "-", TS.decode()),
        LeakHit("api", "raw", 3, "-"),
    ]
    assert (got.lines, got.masked_lines) == (3, 1)


@pytest.mark.parametrize("max_line", [64, 100, 257])
def test_small_windows_agree_with_the_line_by_line_reference(
    ps: PatternSet, secret: bytes, max_line: int
) -> None:
    line = b"." * 150 + secret + b"," * 70 + secret.hex().encode() + b"[MASKED]" + b"-" * 90
    data = (TS + b" " + line + b"\nshort\n") * 3
    for block in (10, 33, 128):
        got = scan_lines([data], ps, max_line=max_line, block_size=block, timestamps=True)
        same(got, reference(data, ps, timestamps=True))


def test_timestamp_is_split_off_reported_and_not_searched(tmp_path: Path) -> None:
    digits = b"2026112810000000"
    ps = build_patterns({"pin": [digits], "tok": [b"token-abcdef-123"]})
    data = (
        TS + b" user logged in token-abcdef-123\n"
        b"2026-11-28T10:00:01+01:00 " + digits + b"\n"
        b"no timestamp token-abcdef-123\n"
    )
    got = scan_lines([data], ps, timestamps=True, source="grafana")
    assert got.hits == [
        LeakHit("tok", "raw", 1, "grafana", TS.decode()),
        LeakHit("pin", "raw", 2, "grafana", "2026-11-28T10:00:01+01:00"),
        LeakHit("tok", "raw", 3, "grafana", None),
    ]
    assert scan_lines([data], ps).hits[0].timestamp is None


def test_split_timestamp() -> None:
    assert split_timestamp(TS + b" msg") == (TS.decode(), len(TS) + 1)
    assert split_timestamp(b"2026-11-28 10:00:00 msg") == (None, 0)
    assert split_timestamp(b"msg") == (None, 0)


def test_masked_lines_are_counted_once_per_line(ps: PatternSet) -> None:
    data = b"a [MASKED] b [MASKED]\nnone\n[MASKED]\n[MASK"
    result = scan_lines(pieces(data, 3), ps, block_size=8)
    assert (result.masked_lines, result.lines) == (2, 4)


def test_hits_beyond_the_limit_are_counted_not_kept(ps: PatternSet, secret: bytes) -> None:
    result = scan_lines([secret + b"\n"] * 50, ps, max_hits=10)
    assert (len(result.hits), result.dropped_hits) == (10, 40)


def test_rechunk_regroups_small_pieces_and_splits_big_ones() -> None:
    assert list(rechunk([b"ab", b"c", b"defgh", b"i"], 4)) == [b"abc", b"defg", b"hi"]
    assert list(rechunk([b"x" * 9, b"", b"y"], 4)) == [b"xxxx", b"xxxx", b"xy"]
    assert list(rechunk([b"abcd", b"ef"], 4)) == [b"abcd", b"ef"]


_line = st.lists(
    st.sampled_from([b"abc ", b"\xff", b"[MASKED]", b"[MA", b"SKED]", b"SECRET", b"TS", b"\n"]),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(_line, max_size=20),
    block=st.integers(1, 80),
    max_line=st.integers(1, 200),
    cut=st.integers(1, 50),
    timestamps=st.booleans(),
)
def test_streaming_scan_equals_line_by_line_reference(
    parts: list[list[bytes]], block: int, max_line: int, cut: int, timestamps: bool
) -> None:
    value = b"s3cr3t-v4lue-xyz"
    ps = build_patterns({"a": [value], "b": [value[4:]]})
    forms = {b"SECRET": value, b"TS": TS + b" "}
    data = b"".join(forms.get(p, p) for line in parts for p in line)
    expected = reference(data, ps, timestamps=timestamps)
    options = {"block_size": block, "max_line": max_line, "timestamps": timestamps}
    same(scan_lines(pieces(data, cut), ps, **options), expected)
    same(scan_lines([data], ps, **options), expected)


_VALUES = {"api": b'k3y/V4lue+with=URL&json"chars', "db": "pässwörd-ünïcode-42".encode()}
_FORMS = [form for value in _VALUES.values() for _, form in encoded_forms(value)]
_piece = st.one_of(
    st.sampled_from(
        [b"abc ", b"\xff", b"\r\n", b"\n", b"\r", b"[MASKED]", b"[MA", b"SKED]", TS + b" "]
    ),
    st.sampled_from(_FORMS),  # every encoding form of every value (whole)
    st.sampled_from(_FORMS).flatmap(  # a form cut in two: no hit, unless rejoined
        lambda f: st.integers(1, len(f) - 1).map(lambda k: f[:k] if k % 2 else f[k:])
    ),
    st.integers(1, 300).map(lambda n: b"L" * n),  # long lines: windows of max_line
)


@settings(max_examples=120, deadline=None)
@given(
    parts=st.lists(_piece, max_size=60),
    block=st.integers(1, 200),
    max_line=st.integers(1, 300),
    workers=st.integers(1, 4),
    backend=st.sampled_from(["hyperscan", "ahocorasick_rs", "re"]),
    timestamps=st.booleans(),
)
def test_file_scan_in_ranges_equals_the_reference_for_every_encoding(
    tmp_path_factory: pytest.TempPathFactory,
    parts: list[bytes],
    block: int,
    max_line: int,
    workers: int,
    backend: str,
    timestamps: bool,
) -> None:
    """The block scanner (one matcher pass per block, lines located only around hits), in
    forked ranges or not, finds exactly the reference's hit lines: hits across block and
    range edges, CRLF, no final newline, lines longer than max_line, every encoded form."""
    ps = build_patterns({k: [v] for k, v in _VALUES.items()}, backend=backend)
    data = b"".join(parts)
    path = tmp_path_factory.mktemp("scan") / "app.log"
    path.write_bytes(data)
    expected = reference(data, ps, timestamps=timestamps)
    options = {"block_size": block, "max_line": max_line, "timestamps": timestamps, "source": "-"}
    saved = logscan.PARALLEL_MIN
    logscan.PARALLEL_MIN = 0
    try:
        same(scan_file(path, ps, workers=workers, **options), expected)
    finally:
        logscan.PARALLEL_MIN = saved
    same(scan_lines(pieces(data, block), ps, **options), expected)


def test_a_big_file_is_scanned_in_forked_ranges_with_global_line_numbers(
    tmp_path: Path, ps: PatternSet, secret: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [b"noise %d [MASKED]" % i for i in range(5000)]
    for at in (0, 1234, 2500, 4999):
        lines[at] += b" " + secret
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "big.log"
    path.write_bytes(data)
    monkeypatch.setattr(logscan, "PARALLEL_MIN", 0)
    forked = scan_file(path, ps, workers=4, block_size=4096, source="-")
    assert [h.line_no for h in forked.hits] == [1, 1235, 2501, 5000]
    same(forked, reference(data, ps))
    capped = scan_file(path, ps, workers=4, max_hits=2)
    assert (len(capped.hits), capped.dropped_hits) == (2, 2)


def test_a_failing_range_process_is_an_error_not_a_partial_result(
    tmp_path: Path, ps: PatternSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"line\n" * 1000)
    monkeypatch.setattr(logscan, "PARALLEL_MIN", 0)
    parent = os.getpid()

    def feed(self: object, blocks: object) -> ScanResult:
        if os.getpid() != parent:
            raise RuntimeError("boom")
        return ScanResult()

    monkeypatch.setattr(logscan._Scanner, "feed", feed)
    with pytest.raises(RuntimeFailure, match="1 of the 2 processes scanning parts of the file"):
        scan_file(path, ps, workers=2)


def test_reprs_and_hits_never_show_a_value(ps: PatternSet, secret: bytes) -> None:
    result = scan_lines([b"x " + secret + b"\n"], ps)
    texts = [repr(result), str(result), repr(result.hits), str(result.hits[0])]
    for text in texts:
        for pattern in ps.patterns:
            assert pattern.decode("latin-1") not in text


# The probe reports its own peak RSS: VmHWM is this process's high-water mark since its exec,
# whereas ru_maxrss (self or children) also counts the forking parent's (pytest's) pages.
MEMORY_PROBE = """
import resource, sys
from titan_deploy.core.leaks import build_patterns
from titan_deploy.io.logscan import scan_file
values = open(sys.argv[1], "rb").read().split(b"\\n")
result = scan_file(sys.argv[2], build_patterns({"s": values}))
try:
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak_kib = int(status.split()[0])
except (OSError, IndexError):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# the forked range scanners: each child's own peak (its inherited pages included)
peak_kib = max(peak_kib, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(len(result.hits), result.lines, peak_kib)
"""


def test_memory_stays_bounded_on_a_200_mb_file(tmp_path: Path) -> None:
    """A memory bound, not a timing one: the scanner's own peak RSS, reported by itself."""
    value = canary()
    (tmp_path / "values").write_bytes(value)
    log = tmp_path / "big.log"
    block = b"".join(
        TS
        + b" "
        + os.urandom(40).hex().encode()
        + b" [MASKED] "
        + base64.b64encode(os.urandom(30))
        + b"\n"
        for _ in range(2000)
    )
    long_line = b"x" * (5 << 20)  # one 5 MiB line: must not be held whole either
    with log.open("wb") as out:
        while out.tell() < 200 << 20:
            out.write(block)
        out.write(long_line + value + b"\n")
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "values"), str(log)],
        capture_output=True,
        check=True,
        cwd=REPO,
        text=True,
    )
    hits, lines, max_rss_kib = map(int, proc.stdout.split())
    assert hits == 1
    assert lines > 1_000_000
    assert max_rss_kib < 100 * 1024
    assert value.decode() not in proc.stdout + proc.stderr
