"""Bounded reads of regular files only: the one way the tool reads a file it did not write.

A manifest, compose file, secret, `--from` file or journal could be a FIFO (reading blocks
forever), a device such as /dev/zero (never ends) or a huge file (read whole, it exhausts memory).
`read_bounded` refuses anything but a regular file BEFORE opening it for reading (stat), opens
with O_NONBLOCK (so even a FIFO swapped in meanwhile cannot block the open or a read), checks
with fstat that it opened the same regular file, and reads at most `limit` + 1 bytes: a larger
file is refused as TooLarge without being read whole.

Read-only observation, shared by the core checks and loaders (which take a directory or a file,
ARCHITECTURE.md "Layers") and by io; nothing here writes. Errors carry a reason, never file content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class UnsafeFile(OSError):
    """A file the tool refuses to read: not a regular file, a symlink or hard link where none
    is allowed, or changed while being opened. `str()` is the reason (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class TooLarge(UnsafeFile):
    """A regular file larger than the reader's limit (`size`: bytes, at least limit + 1)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"is larger than {limit} bytes")
        self.size = size
        self.limit = limit


def file_type(mode: int) -> str:
    """What an st_mode is, in words: "regular file", "FIFO", "character device", ..."""
    kinds = (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


def read_bounded(
    path: str | Path,
    limit: int,
    *,
    follow_symlinks: bool = True,
    single_link: bool = False,
    dir_fd: int | None = None,
) -> bytes:
    """The content of the regular file `path`, at most `limit` bytes.

    `follow_symlinks=False` refuses a symlink (O_NOFOLLOW); `single_link` refuses a file with
    more than one hard link (its content is then also somewhere else); `dir_fd` makes `path`
    relative to an open directory. Raises TooLarge (file over `limit` bytes, not read whole),
    UnsafeFile (not a regular file, refused link, changed meanwhile, would block) or OSError
    (missing, permission)."""
    before = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    _require_regular(before, follow_symlinks)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:  # it became a symlink meanwhile
            raise UnsafeFile("is a symlink") from None
        raise
    try:
        return read_fd(fd, limit, expect=before, single_link=single_link)
    finally:
        os.close(fd)


def read_fd(
    fd: int, limit: int, *, expect: os.stat_result | None = None, single_link: bool = False
) -> bytes:
    """Read at most `limit` bytes of the open regular file `fd` (see read_bounded)."""
    st = os.fstat(fd)
    _require_regular(st, True)
    if expect is not None and (st.st_dev, st.st_ino) != (expect.st_dev, expect.st_ino):
        raise UnsafeFile("was replaced while being opened")
    if single_link and st.st_nlink != 1:
        raise UnsafeFile(f"has {st.st_nlink} hard links")
    if st.st_size > limit:
        raise TooLarge(st.st_size, limit)
    chunks: list[bytes] = []
    held = 0
    while held <= limit:
        try:
            chunk = os.read(fd, min(1 << 20, limit + 1 - held))
        except BlockingIOError:
            raise UnsafeFile("would block (not a plain file)") from None
        if not chunk:
            break
        chunks.append(chunk)
        held += len(chunk)
    if held > limit:
        raise TooLarge(held, limit)
    return b"".join(chunks)


def _require_regular(st: os.stat_result, follow_symlinks: bool) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = file_type(st.st_mode)
    if stat.S_ISLNK(st.st_mode) and not follow_symlinks:
        raise UnsafeFile("is a symlink")
    raise UnsafeFile(f"is a {kind}, not a regular file")
