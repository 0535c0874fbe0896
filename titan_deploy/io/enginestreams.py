"""The byte streams the Docker engine answers with, decoded (pure: no engine call here):
multiplexed log and exec frames (8-byte headers), and the tar archives `get_archive` returns,
read into FileStats. io/engine.py owns the calls; these read what they return."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import time
from collections.abc import Iterator
from typing import Any

from titan_deploy.core.containers import FileStat

LOG_READ = 1 << 20  # bytes read from a log stream at a time
_FRAME_HEADER = 8  # stream (1 byte), 3 zero bytes, payload length (4 bytes, big-endian)


def _log_payloads(response: Any, tty: bool) -> Iterator[bytes]:
    """The payload bytes of a log response, read in LOG_READ blocks; the response is closed
    when the stream ends or the consumer stops."""
    try:
        read = response.raw.read
        yield from (
            iter(lambda: read(LOG_READ), b"") if tty else demux(iter(lambda: read(LOG_READ), b""))
        )
    finally:
        response.close()


def demux(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The payloads of Docker's multiplexed stream (frames of an 8-byte header — stream, three
    zero bytes, big-endian payload length — and the payload), given as blocks that may cut a
    frame or a header anywhere; each yielded chunk joins the payloads of the whole frames
    completed by one block (stdout and stderr in the stream's order). A frame cut short by the
    end of the stream yields what arrived of its payload, as the SDK did."""
    pending = b""
    for block in blocks:
        data = pending + block if pending else block
        view = memoryview(data)
        out = []
        pos, size = 0, len(data)
        while size - pos >= _FRAME_HEADER:
            end = pos + _FRAME_HEADER + int.from_bytes(data[pos + 4 : pos + 8], "big")
            if end > size:
                break
            out.append(view[pos + _FRAME_HEADER : end])
            pos = end
        pending = data[pos:]
        if out:
            yield b"".join(out)
    if len(pending) > _FRAME_HEADER:
        yield pending[_FRAME_HEADER:]


def _read_frames(raw: Any, deadline: float) -> tuple[bytes, bytes]:
    """Demultiplex a non-tty exec stream: 8-byte headers (stream, 0, 0, 0, size BE32)."""
    buf = b""
    out = {1: bytearray(), 2: bytearray()}
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        raw.settimeout(left)
        chunk = raw.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            stream, size = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + size:
                break
            if stream in out:
                out[stream] += buf[8 : 8 + size]
            buf = buf[8 + size :]
    return bytes(out[1]), bytes(out[2])


def _stats_from_dir_tar(directory: str, data: bytes, paths: list[str]) -> list[FileStat]:
    """Hash each wanted file of a directory archive; members are named `<dirname>/<file>`."""
    root = directory.rstrip("/").rsplit("/", 1)[-1]
    wanted = {f"{root}/{p.rsplit('/', 1)[-1]}": p for p in paths}
    found: dict[str, FileStat] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            path = wanted.get(member.name)
            if path is None:
                continue
            if not member.isfile():
                found[path] = FileStat(path=path, exists=False, error="not a regular file")
                continue
            handle = tar.extractfile(member)
            found[path] = _file_stat(path, member, handle.read() if handle else b"")
    return [found.get(p) or FileStat(path=p, exists=False) for p in paths]


def _file_stat(path: str, member: tarfile.TarInfo, content: bytes) -> FileStat:
    return FileStat(
        path=path,
        exists=True,
        sha256=hashlib.sha256(content).hexdigest(),
        size=member.size,
        uid=member.uid,
        gid=member.gid,
        mode=member.mode & 0o7777,
    )


def _stat_from_tar(path: str, data: bytes) -> FileStat:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        if member is None:
            return FileStat(path=path, exists=False, error="not a regular file")
        handle = tar.extractfile(member)
        return _file_stat(path, member, handle.read() if handle else b"")
