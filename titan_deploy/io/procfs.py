"""A container's own view through /proc, for `verify` on the engine's host (README "What
`verify` proves").

When the tool runs as root next to a local engine, `/proc/<pid>/root` of a container's process is
that container's root as its processes see it: its mounts, including the inode a bind-mounted
secret file had when the container started (a host file replaced by a rename keeps its old inode
inside the container). Its processes are listed from its cgroup and each one's ids, groups,
capabilities, argv and environment names come from `/proc/<pid>/`.

Paths inside the container are walked one component at a time with O_NOFOLLOW from a directory
fd of its root, so a symlink planted in the container can never send a read to a host file: a
path that needs a symlink is left to the archive API (which resolves it inside the container).
Nothing read here is printed: a file is hashed, argv and environment stay in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat as stat_mod
from collections.abc import Iterator
from typing import Any

from titan_deploy.core.containers import INODE, PROC_ROOT, FileStat, Process
from titan_deploy.io import proctree

CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CGROUP_ROOT = "/sys/fs/cgroup"
MAX_PROCESSES = 4096
MAX_FILE_BYTES = 16 << 20  # far above Docker's 500 KB secret limit: never hash a giant file
MAX_TEXT_BYTES = 4 << 20  # /etc/passwd, /etc/group: read whole, but never a giant file


class Unavailable(Exception):
    """The container's view cannot be used here; the message says why (no values)."""


def root_available() -> str:
    """'' when this process may read other processes' /proc views, else the reason."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the tool does not run as root"
    if not os.path.isdir("/proc/self"):
        return "/proc is not mounted"
    return ""


@contextlib.contextmanager
def open_container(pid: int, container_id: str) -> Iterator[int]:
    """A directory fd of /proc/<pid>, checked to be a process of `container_id`.

    The check (the container id in the process's cgroup path) guards against a pid from another
    pid namespace (the tool itself in a container, an engine behind a forwarded socket): then
    Unavailable is raised and the caller falls back to the archive API."""
    if pid <= 0:
        raise Unavailable("the container has no running process")
    try:
        fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise Unavailable(f"/proc/{pid} is not visible here (another pid namespace?)") from None
    try:
        try:
            cgroup = _read_at(fd, "cgroup").decode("utf-8", "replace")
        except OSError:
            raise Unavailable(f"/proc/{pid} cannot be read") from None
        if container_id not in cgroup:
            raise Unavailable(f"/proc/{pid} is not a process of this container here")
        yield fd
    finally:
        os.close(fd)


def read_files(pid_fd: int, paths: list[str]) -> dict[str, FileStat]:
    """Each path as the container sees it (hash + stat); a path that cannot be walked without
    following a symlink is left out (the caller reads it through the archive API)."""
    try:
        root = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pid_fd)
    except OSError:
        raise Unavailable("the container's root is not reachable through /proc") from None
    try:
        out = {}
        for path in paths:
            found = read_file(root, path)
            if found is not None:
                out[path] = found
        return out
    finally:
        os.close(root)


def read_file(root_fd: int, path: str) -> FileStat | None:
    """One file under a container root fd: PROC_ROOT (hashed), INODE (stat only: not
    readable even by root) or not there; None when a component is a symlink or not a dir."""
    if not _plain(path):
        return FileStat(path=path, exists=False, error="not a plain absolute path")
    try:
        with _walked(root_fd, path) as handle:
            return _stat_handle(path, handle)
    except FileNotFoundError:
        return FileStat(path=path, exists=False, method=PROC_ROOT)
    except OSError:
        return None  # a symlink (ELOOP/ENOTDIR with O_NOFOLLOW) or another oddity: archive


def read_text(pid_fd: int, path: str, limit: int = MAX_TEXT_BYTES) -> str | None:
    """A small non-secret text file (/etc/passwd) as the container sees it, walked as
    `read_file` walks (never through a symlink); None when the walk or the read fails, or the
    file is not regular or over `limit` bytes (the caller then asks the archive API)."""
    if not _plain(path):
        return None
    try:
        root = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pid_fd)
    except OSError:
        return None
    try:
        with _walked(root, path) as handle:
            st = os.fstat(handle)
            if not stat_mod.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            data = _read_bounded(f"/proc/self/fd/{handle}", limit)
    except OSError:
        return None
    finally:
        os.close(root)
    return None if data is None else data.decode("utf-8", "replace")


def _plain(path: str) -> bool:
    return not any(part in ("", ".", "..") for part in path.strip("/").split("/"))


@contextlib.contextmanager
def _walked(root_fd: int, path: str) -> Iterator[int]:
    """An O_PATH fd of `path` under `root_fd`, each component opened with O_NOFOLLOW (a
    symlink anywhere raises OSError: ELOOP or ENOTDIR); closed on exit."""
    parts = path.strip("/").split("/")
    opened: list[int] = []
    try:
        current = root_fd
        for part in parts[:-1]:
            current = os.open(
                part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current
            )
            opened.append(current)
        handle = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=current)
        opened.append(handle)
        yield handle
    finally:
        for fd in reversed(opened):
            os.close(fd)


def _read_bounded(path: str, limit: int) -> bytes | None:
    """At most `limit` bytes of `path` (None if it holds more)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return None if size > limit else b"".join(chunks)


def _stat_handle(path: str, handle: int) -> FileStat | None:
    st = os.fstat(handle)
    if stat_mod.S_ISLNK(st.st_mode):
        return None
    base: dict[str, Any] = {
        "path": path,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mode": st.st_mode & 0o7777,
        "size": st.st_size,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "ctime": st.st_ctime,
    }
    if not stat_mod.S_ISREG(st.st_mode):
        return FileStat(exists=False, error="not a regular file", method=PROC_ROOT, **base)
    if st.st_size > MAX_FILE_BYTES:  # exists, but its hash can match nothing: content fails
        return FileStat(exists=True, sha256="too-large", method=PROC_ROOT, **base)
    try:  # re-open the O_PATH handle for reading: the same inode, no second path walk
        reader = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return FileStat(exists=True, method=INODE, **base)
    try:
        digest = hashlib.sha256()
        while chunk := os.read(reader, 1 << 16):
            digest.update(chunk)
    finally:
        os.close(reader)
    return FileStat(exists=True, sha256=digest.hexdigest(), method=PROC_ROOT, **base)


def container_pids(pid_fd: int, init_pid: int) -> list[int]:
    """Every process of the container: its cgroup's procs (v1 or v2), else the init process
    and its descendants (io/proctree.descendants)."""
    cgroup = _read_at(pid_fd, "cgroup").decode("utf-8", "replace")
    for candidate in cgroup_procs_files(cgroup):
        with contextlib.suppress(OSError, ValueError):
            with open(candidate, encoding="ascii") as handle:
                pids = [int(line) for line in handle if line.strip()]
            if init_pid in pids:
                return pids[:MAX_PROCESSES]
    return _descendants(init_pid)


def cgroup_procs_files(cgroup: str) -> list[str]:
    """Candidate cgroup.procs files for a /proc/<pid>/cgroup text (v2 first, then v1)."""
    out = []
    for line in cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0" and controllers == "":
            out.append(f"{CGROUP_ROOT}{path}/cgroup.procs")
            out.append(f"{CGROUP_ROOT}/unified{path}/cgroup.procs")
        elif "pids" in controllers.split(","):
            out.append(f"{CGROUP_ROOT}/pids{path}/cgroup.procs")
        elif controllers == "name=systemd":
            out.append(f"{CGROUP_ROOT}/systemd{path}/cgroup.procs")
    return [p.replace("//", "/") for p in out]


def _descendants(init_pid: int) -> list[int]:
    """The init process, then its descendants (io/proctree.py: the one walk of the process
    tree, by parent pid), at most MAX_PROCESSES."""
    return [init_pid, *proctree.descendants(init_pid)][:MAX_PROCESSES]


def read_process(pid: int, paths: frozenset[str]) -> Process | None:
    """One process (None when it is gone or a zombie): ids, groups, DAC capabilities, argv,
    and which env var names / secret paths its environment holds (values are not kept)."""
    try:
        fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fields = parse_status(_read_at(fd, "status").decode("utf-8", "replace"))
        if fields.get("State", "").startswith(("Z", "X")):
            return None
        raw = _read_at(fd, "cmdline")
        argv = tuple(arg.decode("utf-8", "replace") for arg in raw.rstrip(b"\0").split(b"\0"))
        names, found = _env_refs(fd, paths)
    except OSError:
        return None
    finally:
        os.close(fd)
    return process_from_status(pid, fields, argv if raw else (), names, found)


def _env_refs(fd: int, paths: frozenset[str]) -> tuple[frozenset[str] | None, frozenset[str]]:
    try:
        raw = _read_at(fd, "environ")
    except OSError:
        return None, frozenset()
    names = set()
    found = set()
    for item in raw.split(b"\0"):
        name, _, value = item.partition(b"=")
        if name:
            names.add(name.decode("utf-8", "replace"))
            text = value.decode("utf-8", "replace")
            if text in paths:
                found.add(text)
    return frozenset(names), frozenset(found)


def parse_status(text: str) -> dict[str, str]:
    """/proc/<pid>/status as {field: value}."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def process_from_status(
    pid: int,
    fields: dict[str, str],
    argv: tuple[str, ...],
    env_names: frozenset[str] | None,
    env_paths: frozenset[str],
) -> Process:
    """A Process from parsed status fields: fs uid/gid (4th column), Groups, CapEff."""
    uids = fields.get("Uid", "0 0 0 0").split()
    gids = fields.get("Gid", "0 0 0 0").split()
    groups = frozenset(int(g) for g in fields.get("Groups", "").split() if g.isdigit())
    caps = int(fields.get("CapEff", "0") or "0", 16)
    dac = bool(caps & (1 << CAP_DAC_OVERRIDE | 1 << CAP_DAC_READ_SEARCH))
    return Process(
        pid=pid,
        comm=fields.get("Name", "?"),
        uid=int(uids[-1]),
        gid=int(gids[-1]),
        groups=groups,
        dac_override=dac,
        argv=argv,
        env_names=env_names,
        env_paths=env_paths,
    )


def _read_at(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
