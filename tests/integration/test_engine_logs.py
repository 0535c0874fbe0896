"""io/engine.py `logs` against the real engine (issue 15): the multiplexed log stream, read in
large blocks and split into frames by the tool, gives exactly what `docker logs` prints —
stdout and stderr lines, in each stream's order, a line longer than the engine's 16 KiB frame
(so split across frames), a last line without a newline — and exactly the SDK's own stream."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from titan_deploy.io.engine import connect

pytestmark = pytest.mark.docker

LONG = 40_000  # bytes: the engine cuts a log line into frames of 16 KiB

SCRIPT = f"""
i=0
while [ $i -lt 300 ]; do echo "out-$i"; echo "err-$i" >&2; i=$((i+1)); done
head -c {LONG} /dev/zero | tr '\\0' x; echo
head -c {LONG} /dev/zero | tr '\\0' y >&2; echo >&2
printf 'last-no-newline'
"""


@pytest.fixture
def finished_container(busybox_image: str):
    name = f"tdtest-logs-{secrets.token_hex(4)}"
    subprocess.run(
        ["docker", "run", "--name", name, "--label", "tdtest=1", busybox_image, "sh", "-c", SCRIPT],
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


@pytest.mark.parametrize("timestamps", [False, True])
def test_logs_equal_docker_logs_and_the_sdk_stream(finished_container: str, timestamps) -> None:
    engine = connect()
    cid = engine.client.api.inspect_container(finished_container)["Id"]
    chunks = list(engine.logs(cid, timestamps=timestamps))
    ours = b"".join(chunks)

    sdk = b"".join(engine.client.api.logs(cid, stream=True, follow=False, timestamps=timestamps))
    assert ours == sdk

    flag = ["--timestamps"] if timestamps else []
    cli = subprocess.run(["docker", "logs", *flag, finished_container], capture_output=True)
    lines = ours.split(b"\n")

    def strip(line: bytes) -> bytes:
        return line.split(b" ", 1)[1] if timestamps and line else line

    def stream(marker: bytes, text: bytes) -> list[bytes]:
        return [ln for ln in text.split(b"\n") if marker in strip(ln)[:4]]

    assert (
        stream(b"out-", ours) == stream(b"out-", cli.stdout) and len(stream(b"out-", ours)) == 300
    )
    assert (
        stream(b"err-", ours) == stream(b"err-", cli.stderr) and len(stream(b"err-", ours)) == 300
    )
    long_x = [strip(ln) for ln in lines if strip(ln).startswith(b"xxx")]
    long_y = [strip(ln) for ln in lines if strip(ln).startswith(b"yyy")]
    if not timestamps:  # (with timestamps the engine stamps each 16 KiB piece, as the CLI shows)
        assert long_x == [b"x" * LONG] and long_y == [b"y" * LONG]  # rejoined across frames
    assert strip(lines[-1]) == b"last-no-newline"
    theirs = (cli.stdout + b"\n" + cli.stderr).split(b"\n")
    assert sorted(ln for ln in lines if ln) == sorted(ln for ln in theirs if ln)


def test_logs_are_read_in_blocks_not_per_line(finished_container: str, monkeypatch) -> None:
    """600+ lines come in a few reads of the response (the SDK's stream made two per line)."""
    engine = connect()
    api = engine.client.api
    reads: list[int] = []
    real_get = api._get

    def counting_get(*args, **kwargs):
        response = real_get(*args, **kwargs)
        real_read = response.raw.read

        def read(*a, **k):
            reads.append(1)
            return real_read(*a, **k)

        response.raw.read = read
        return response

    monkeypatch.setattr(api, "_get", counting_get)
    text = b"".join(engine.logs(finished_container, timestamps=False))
    assert text.count(b"\n") > 600
    assert 0 < len(reads) <= 10
