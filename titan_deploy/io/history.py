"""The history files (README "History"): `<state_dir>/history.jsonl` and `history.head`.

The log is append-only: opened O_APPEND (never truncated or rewritten by the tool), mode 0600,
in the git-ignored state dir (0700), reached without following a symlink. Each append takes an
exclusive flock on the log, so concurrent commands chain one after another; the record is one
line written with one write(2) and fsynced, then the head (`{"count", "hash"}`) is replaced
atomically. The head is what tells a removed tail: the chain alone cannot
(core/history.verify_chain).

The next record chains from the head. When the head is missing, or exactly one record behind a
last record that chains from it (a crash between the two writes), it chains from the log's
last record instead.
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


def append(project: Project, build: Callable[[Head], dict[str, Any]]) -> dict[str, Any]:
    """Append the record `build(head)` under the log's lock; returns it. Raises UnsafePath
    (the log is a symlink or not a regular single-link file), OSError."""
    root = project.project_dir
    fs.ensure_dir(project.state_dir, 0o700, root=root)
    dfd = fs.open_dir(project.state_dir, root)
    try:
        fd = _open_log(dfd, log_path(project))
    finally:
        os.close(dfd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = build(_next_head(project, fd))
        line = history.line_of(record)
        if os.write(fd, line) != len(line):
            raise OSError(f"{log_path(project)}: short write to the history")
        os.fsync(fd)
        text = history.head_text(history.head_after(record))
        fs.atomic_write(head_path(project), text, mode=0o600, root=root)
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


def _next_head(project: Project, fd: int) -> Head:
    """What the next record chains from (see the module docstring)."""
    stored = read_head(project)
    last = _last_record(fd)
    if stored is None:
        return history.head_after(last) if last else history.EMPTY
    if last and last["seq"] == stored.count + 1 and last["prev"] == stored.hash:
        return history.head_after(last)  # a crash between the log and the head write
    return stored


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
