"""io/engine.py `demux`: Docker's multiplexed log stream split into frames by the tool, from
blocks that may cut a frame or its 8-byte header anywhere (issue 15). The real engine's side is
tests/integration/test_engine_logs.py."""

from __future__ import annotations

from titan_deploy.io.enginestreams import demux


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


PAYLOADS = [b"out-1\n", b"err-1\n", b"part-", b"rest\n", b"", b"z" * 3000, b"last"]


def test_frames_cut_at_every_offset_give_the_payloads_in_order() -> None:
    data = b"".join(frame(1 + i % 2, p) for i, p in enumerate(PAYLOADS))
    for cut in range(1, 40):
        blocks = [data[i : i + cut] for i in range(0, len(data), cut)]
        assert b"".join(demux(iter(blocks))) == b"".join(PAYLOADS)


def test_one_block_with_a_frame_larger_than_any_read() -> None:
    big = b"y" * 100_000
    assert b"".join(demux(iter([frame(1, big) + frame(2, b"e\n")]))) == big + b"e\n"


def test_a_stream_cut_short_keeps_what_arrived() -> None:
    data = frame(1, b"whole\n") + frame(2, b"cut short\n")[:-4]
    assert b"".join(demux(iter([data]))) == b"whole\ncut sh"
