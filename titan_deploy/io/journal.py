"""The rotation journal and the rotation lock on disk (ARCHITECTURE.md invariant 6).

Journal: `<state_dir>/state.json`, 0600, written atomically (temp file in the same dir, fsync,
rename, fsync dir) after every step. It holds the assignments the overlay renders from, the
procedure in flight with its steps and progress, HMAC phase 1s awaiting phase 2, and a short
history. It never holds a secret value: versions are numbers, key ids are not secret.

Lock: `<state_dir>/rotation.lock/`, a directory, because mkdir is atomic by construction: two
invocations cannot both create it. Inside, `holder.json` names the holder's pid, its start time
(to tell a live holder from a reused pid) and the command. A lock whose holder is dead is stale:
it is reported as such and only `rotate resume` / `rotate abort` break it.

While no rotation has ever run there is no journal and every consumer uses the base files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from titan_deploy.core.overlay import State
from titan_deploy.core.rotation.codec import journal_from_dict, journal_to_dict
from titan_deploy.core.rotation.journal import Journal
from titan_deploy.errors import ConfigError, LockError
from titan_deploy.io import fs

if TYPE_CHECKING:
    from titan_deploy.project import Project

STATE_FILE = "state.json"
LOCK_DIR = "rotation.lock"
HOLDER_FILE = "holder.json"
ACQUIRE_GRACE_S = 10.0  # a lock dir younger than this without holder.json is being acquired
HOLDER_MAX_BYTES = 64 * 1024  # holder.json is a few dozen bytes; more is not ours
PID_MAX = 4_194_304  # Linux's PID_MAX_LIMIT: no process has a larger pid


def state_path(project: Project) -> Path:
    return project.state_dir / STATE_FILE


def load_overlay_state(project: Project) -> State:
    """secret -> service -> Assignment, from the journal's `assignments` (empty if none)."""
    return load(project).assignments


def load(project: Project) -> Journal:
    path = state_path(project)
    if not path.exists() and not path.is_symlink():
        return Journal()
    try:  # bounded, a regular file only: a FIFO or /dev/zero here must not hang (issue 9.4)
        doc = json.loads(fs.read_config(path))
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        _check_shape(doc)
        return _well_typed(journal_from_dict(doc))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise ConfigError(
            f"{path}: unreadable rotation journal; restore it from a backup or move it away "
            "(then every consumer is assumed to use the base files: check with `titan-deploy "
            "verify`)"
        ) from None


_SHAPE = {
    "assignments": dict,
    "last_version": dict,
    "active": dict,
    "pending": dict,
    "history": list,
}


def _check_shape(doc: dict) -> None:
    """TypeError unless the journal's top-level keys have their types (null allowed)."""
    for key, kind in _SHAPE.items():
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise TypeError(f"{key} is not a {kind.__name__}")
    if not all(isinstance(entry, dict) for entry in doc.get("history") or []):
        raise TypeError("a history entry is not an object")


def _well_typed(journal: Journal) -> Journal:
    """`journal`, if its assignments have the types the overlay renders from; else TypeError
    (a hand-edited `"version": "x"` would otherwise render a file name nobody wrote)."""
    for services in journal.assignments.values():
        for assignment in services.values():
            for number in (assignment.version, assignment.secondary):
                if number is not None and (type(number) is not int or number < 1):
                    raise TypeError("a version is not a positive integer")
            if assignment.key_id is not None and not isinstance(assignment.key_id, str):
                raise TypeError("a key id is not a string")
    return journal


def save(
    project: Project, journal: Journal, before_replace: Callable[[Path], None] | None = None
) -> None:
    """Write the journal atomically, mode 0600 (the state dir is created 0700 if missing)."""
    root = project.project_dir  # confined: never through a symlink (issue 9.2)
    fs.ensure_dir(project.state_dir, 0o700, root=root)
    text = json.dumps(journal_to_dict(journal), indent=2, sort_keys=True) + "\n"
    fs.atomic_write(
        state_path(project), text.encode(), mode=0o600, before_replace=before_replace, root=root
    )


# --- the lock -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as `holder.json` says. Parsed strictly: `pid` is None unless the file
    names a positive pid a process can have (a garbage, zero or negative pid is no pid: os.kill
    would signal a whole process group), and such a lock is never alive."""

    pid: int | None
    command: str = "?"
    started_at: str = "?"
    start_ticks: int | None = None  # /proc/<pid>/stat field 22: tells a reused pid apart
    recorded: bool = True  # False: no holder.json (yet): the lock may be being taken

    @property
    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid, self.start_ticks)

    def describe(self) -> str:
        """`pid N (`command`, since T)`, or that the lock holds no valid pid."""
        if self.pid is None:
            return "the lock holds no valid pid"
        return f"pid {self.pid} (`{self.command}`, since {self.started_at})"


@dataclass
class Lock:
    path: Path
    holder: Holder
    broke: Holder | None = None  # the stale holder this acquisition replaced

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / HOLDER_FILE).unlink()
        with contextlib.suppress(FileNotFoundError, OSError):
            self.path.rmdir()

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(project: Project) -> Path:
    return project.state_dir / LOCK_DIR


def read_holder(path: Path) -> Holder | None:
    """The holder of the lock at `path`, None if unlocked. Anything at `path` that is not a lock
    this tool wrote (a file, a symlink, garbage in holder.json, a pid <= 0) is a holder with pid
    None: a stale lock that `rotate resume` / `abort` break."""
    if not path.is_symlink() and not path.exists():
        return None
    if path.is_symlink() or not path.is_dir():
        return Holder(pid=None)
    try:  # bounded, a regular file only: a FIFO named holder.json must not hang (issue 9.4)
        raw = fs.read_bounded(path / HOLDER_FILE, HOLDER_MAX_BYTES)
    except FileNotFoundError:
        return Holder(pid=None, recorded=False)
    except OSError:  # too large, not a regular file, unreadable: not a lock this tool wrote
        return Holder(pid=None)
    return parse_holder(raw)


def parse_holder(raw: bytes) -> Holder:
    """holder.json's content as a Holder; anything off makes that field unknown (pid None)."""
    try:
        doc = json.loads(raw) if len(raw) <= HOLDER_MAX_BYTES else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Holder(pid=None)
    pid = doc.get("pid")
    ticks = doc.get("start_ticks")
    return Holder(
        pid=pid if valid_pid(pid) else None,
        command=_text(doc.get("command"), 200),
        started_at=_text(doc.get("started_at"), 64),
        start_ticks=ticks if type(ticks) is int and ticks >= 0 else None,
    )


def valid_pid(pid: object) -> bool:
    """A pid a process can have: an int in 1..PID_MAX (not a bool, not a string)."""
    return type(pid) is int and 0 < pid <= PID_MAX


def _text(value: object, limit: int) -> str:
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= limit:
        return value
    return "?"


def acquire(project: Project, command: str, break_stale: bool = False) -> Lock:
    """Take the rotation lock or raise LockError (exit 3) naming the holder."""
    fs.ensure_dir(project.state_dir, 0o700, root=project.project_dir)
    path = lock_path(project)
    broke = None
    for _ in range(3):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            holder = read_holder(path)
            if holder is None:
                continue  # released meanwhile: try again
            if being_acquired(path, holder):
                raise LockError(
                    f"another rotation is starting ({path} was just created); "
                    "retry in a few seconds"
                ) from None
            if holder.alive:
                raise LockError(
                    f"another rotation is running: {holder.describe()} holds {path}"
                ) from None
            if not break_stale:
                raise LockError(stale_message(path, holder)) from None
            _break(path)
            broke = holder
            continue
        me = Holder(
            pid=os.getpid(),
            command=command,
            started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            start_ticks=process_start_ticks(os.getpid()),
        )
        doc = {
            "pid": me.pid,
            "command": me.command,
            "started_at": me.started_at,
            "start_ticks": me.start_ticks,
        }
        fs.atomic_write(
            path / HOLDER_FILE,
            (json.dumps(doc) + "\n").encode(),
            mode=0o600,
            root=project.project_dir,
        )
        return Lock(path=path, holder=me, broke=broke)
    raise LockError(f"could not take {path}: it keeps changing; is another rotation starting?")


def stale_message(path: Path, holder: Holder) -> str:
    if holder.pid is None:
        who = "the lock holds no valid pid (its holder.json is missing or not one this tool wrote)"
    else:
        who = f"{holder.describe()} is no longer running"
    return (
        f"stale rotation lock {path}: {who}, so a rotation was interrupted. Run `titan-deploy "
        "rotate status`, then `titan-deploy rotate resume` (finish it) or `titan-deploy rotate "
        "abort` (undo it); either breaks the stale lock"
    )


def broke_message(holder: Holder) -> str:
    """What resume/abort say after breaking a stale lock."""
    if holder.pid is None:
        return "broke the stale rotation lock: it held no valid pid"
    return (
        f"broke the stale rotation lock of pid {holder.pid} (`{holder.command}`), which is no "
        "longer running"
    )


def being_acquired(path: Path, holder: Holder) -> bool:
    """A lock dir just created, whose holder has not written holder.json yet."""
    if holder.recorded:
        return False
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return 0 <= age < ACQUIRE_GRACE_S


def _break(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether process `pid` runs (and, given its start ticks, is the same process). A pid
    outside 1..PID_MAX is never alive: os.kill(0 or -1, 0) would ask about whole groups."""
    if not valid_pid(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except (OverflowError, OSError):
        return False
    if start_ticks is not None:
        now = process_start_ticks(pid)
        if now is not None and now != start_ticks:
            return False  # the pid was reused by another process
    return not _is_zombie(pid)


def process_start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] == "Z"


def holder_to_dict(holder: Holder | None, path: Path) -> dict[str, Any] | None:
    if holder is None:
        return None
    return {
        "path": str(path),
        "pid": holder.pid,
        "command": holder.command,
        "started_at": holder.started_at,
        "alive": holder.alive,
        "valid_pid": holder.pid is not None,
        "describe": holder.describe(),
    }
