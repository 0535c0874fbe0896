"""The history files (README "History"): `<state_dir>/history.jsonl` and `history.head`.

The log is append-only: opened O_APPEND (never truncated or rewritten by the tool), mode 0600,
in the git-ignored state dir (0700), reached without following a symlink. Each append takes an
exclusive flock on the log, so concurrent commands chain one after another; the record is one
line written with one write(2) and fsynced, then the head (`{"count", "hash"}`) is replaced
atomically. The head is what tells a removed tail: the chain alone cannot
(core/history.verify_chain).

The next record chains from the head. When the head is exactly one record behind a last record
that chains from it (a crash between the two writes), or missing after the first record only,
it chains from the log's last record instead (and writes the head). A head missing after more
records, or unreadable, is left as it is (the record still chains from the last one):
rebuilding it would hide a removed tail from `history --verify`.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pwd
import socket
import stat
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from titan_deploy.core import history
from titan_deploy.core.history import Head
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs

if TYPE_CHECKING:
    from titan_deploy.project import Project

LOG_FILE = "history.jsonl"
HEAD_FILE = "history.head"
MAX_LOG_BYTES = 256 << 20  # a read of the whole log (history, --verify) stops here
_TAIL_BYTES = 64 << 10  # enough for the last record


def log_path(project: Project) -> Path:
    return project.state_dir / LOG_FILE


def head_path(project: Project) -> Path:
    return project.state_dir / HEAD_FILE


def who() -> dict[str, Any]:
    """The user running this process: name, uid, host (and the invoking user under sudo)."""
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = getpass.getuser()
    out: dict[str, Any] = {"user": user, "uid": uid, "host": socket.gethostname()}
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and uid == 0:
        out["sudo_user"] = sudo_user
    return out


def now() -> str:
    """The current time, UTC, ISO 8601 to the second (`2026-11-29T17:00:00Z`)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class HeadNotUpdated(Exception):
    """The record was appended, but the head was not updated (its message says why and what
    `history --verify` will report): not a failure of the run, not a tamper."""


def append(project: Project, build: Callable[[Head], dict[str, Any]]) -> dict[str, Any]:
    """Append the record `build(head)` under the log's lock; returns it. Raises UnsafePath
    (the log is a symlink or not a regular single-link file), OSError (nothing appended),
    HeadNotUpdated (appended; the head was left as it is: see the module docstring)."""
    root = project.project_dir
    fs.ensure_dir(project.state_dir, 0o700, root=root)
    dfd = fs.open_dir(project.state_dir, root)
    try:
        fd = _open_log(dfd, log_path(project))
    finally:
        os.close(dfd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        head, keep = _next_head(project, fd)
        record = build(head)
        line = history.line_of(record)
        if os.write(fd, line) != len(line):
            raise OSError(f"{log_path(project)}: short write to the history")
        os.fsync(fd)
        if keep:
            raise HeadNotUpdated(f"recorded as record {record['seq']}, but {keep}")
        text = history.head_text(history.head_after(record))
        try:
            fs.atomic_write(head_path(project), text, mode=0o600, root=root)
        except (OSError, fs.UnsafePath) as exc:
            raise HeadNotUpdated(
                f"recorded as record {record['seq']}, but {head_path(project)} could not be "
                f"updated ({exc}): `history --verify` reports the head until it is replaced"
            ) from None
        return record
    finally:
        os.close(fd)  # releases the lock


def _open_log(dfd: int, shown: Path) -> int:
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(LOG_FILE, flags, 0o600, dir_fd=dfd)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symlink
            raise fs.UnsafePath(
                f"{shown} is a symlink: titan-deploy never writes through one"
            ) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise fs.UnsafePath(f"{shown} is not a regular file with one link")
    return fd


def _next_head(project: Project, fd: int) -> tuple[Head, str | None]:
    """What the next record chains from (see the module docstring), and why the head must be
    left as it is (None: write it). A head that is missing while the log has more than its
    first record, or that cannot be read, is evidence (`history --verify`, H004): it is never
    rebuilt silently."""
    stored = read_head(project)
    last = _last_record(fd)
    if stored is None:
        chained = history.head_after(last) if last else history.EMPTY
        shown = head_path(project)
        if head_present(project):
            return chained, f"{shown} cannot be read: left as it is (`history --verify`)"
        if last and last.get("seq", 0) > 1:
            return chained, (
                f"{shown} is missing: not rebuilt (`history --verify` reports it; restore it "
                "from a backup)"
            )
        return chained, None  # a new history, or a crash before the first head write
    if last and last["seq"] == stored.count + 1 and last["prev"] == stored.hash:
        return history.head_after(last), None  # a crash between the log and the head write
    return stored, None


def _last_record(fd: int) -> dict[str, Any] | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    start = max(0, size - _TAIL_BYTES)
    tail = os.pread(fd, size - start, start)
    lines = [line for line in tail.split(b"\n") if line.strip()]
    return history.parse_line(lines[-1]) if lines else None


def read_head(project: Project) -> Head | None:
    """The head file's head; None if there is none or it is malformed."""
    try:
        data = fs.read_bounded(head_path(project), 4096, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except (OSError, fs.UnsafeFile, fs.TooLarge):
        return None
    return history.parse_head(data)


def head_present(project: Project) -> bool:
    return head_path(project).exists() or head_path(project).is_symlink()


def read_lines(project: Project) -> list[bytes]:
    """The log's non-empty lines ([] when there is none). Raises ConfigError (not a regular
    file, a symlink, too large), OSError."""
    path = log_path(project)
    try:
        data = fs.read_bounded(path, MAX_LOG_BYTES, follow_symlinks=False)
    except FileNotFoundError:
        return []
    except fs.UnsafeFile as exc:
        raise ConfigError(f"{path} {exc.reason}: not read") from None
    except fs.TooLarge:
        raise ConfigError(f"{path} is over {MAX_LOG_BYTES >> 20} MiB: not read") from None
    return [line for line in data.split(b"\n") if line.strip()]


def log_mode(project: Project) -> int | None:
    """The log's permission bits, None if it does not exist."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(os.lstat(log_path(project)).st_mode)
    return None
