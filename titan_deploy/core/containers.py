"""What the tool knows about a running container and a file inside it: plain values.

The io layer (Docker SDK, and /proc when the engine is local) fills these; the pure verification
logic reads them. Neither carries a secret's content: a file is known by its hash and its stat,
and the reprs of a container and a process hide env, command, labels and argv (where a leaked
value could sit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# How a file inside a container was read (FileStat.method):
PROC_ROOT = "proc-root"  # opened through /proc/<pid>/root: the container's own mount namespace
INODE = "inode"  # stat only (device + inode) through /proc/<pid>/root: content not readable
ARCHIVE = "archive"  # the engine's archive API (tar header + content): remote or not root
SWARM_OBJECT = "swarm-object"  # a Swarm secret the archive cannot see: the task's object, by name


@dataclass(frozen=True)
class FileStat:
    """A file read from a container: its hash and stat — never its content.

    `dev`/`ino`/`ctime` are known only when the file was opened through the container's own view
    (`method` PROC_ROOT or INODE); the archive API gives neither an inode nor a ctime."""

    path: str
    exists: bool
    sha256: str = ""
    size: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0
    error: str = ""
    method: str = ARCHIVE
    dev: int | None = None
    ino: int | None = None
    ctime: float | None = None


@dataclass(frozen=True)
class Process:
    """One process running in a container, as the kernel sees it (/proc/<pid>/status, or ps).

    `uid`/`gid` are the filesystem ids (what the kernel checks on open), `groups` the
    supplementary groups. `dac_override`: the effective capabilities hold CAP_DAC_OVERRIDE or
    CAP_DAC_READ_SEARCH (None: unknown — then uid 0 is assumed to read anything). `env_names`: the
    names of the variables in the environment it was started with (None: not readable, e.g. from
    ps); `env_paths`: which of the container's secret paths appear as a value there. A process
    whose environment names a secret file is one that may open it."""

    pid: int
    comm: str
    uid: int
    gid: int
    groups: frozenset[int] = frozenset()
    dac_override: bool | None = None
    argv: tuple[str, ...] = field(repr=False, default=())
    env_names: frozenset[str] | None = None
    env_paths: frozenset[str] = frozenset()

    def who(self) -> str:
        """'pid 42 (php-fpm: uid 33, gid 33, groups 33)' — never argv."""
        groups = ",".join(str(g) for g in sorted(self.groups)) or "none"
        return f"pid {self.pid} ({self.comm}: uid {self.uid}, gid {self.gid}, groups {groups})"


@dataclass(frozen=True)
class ContainerView:
    """What was read from one container in one pass: files by path, and its processes.

    `processes` None: the processes could not be listed (then readability is judged from the
    configured User). `note`: why the container's own view was not used (empty when it was)."""

    files: dict[str, FileStat] = field(default_factory=dict)
    processes: tuple[Process, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class ContainerInfo:
    """What verify needs to know about one container (from inspect)."""

    id: str
    name: str
    service: str
    number: int
    status: str  # running, restarting, exited, ...
    restarting: bool
    restart_count: int
    exit_code: int
    health: str | None  # healthy, unhealthy, starting or None
    started_at: str
    user: str
    group_add: tuple[str, ...]
    env: dict[str, str] = field(repr=False, default_factory=dict)
    command: tuple[str, ...] = field(repr=False, default=())
    labels: dict[str, str] = field(repr=False, default_factory=dict)
    image: str = ""
    healthcheck: tuple[str, ...] = field(repr=False, default=())
    pid: int = 0  # State.Pid on the engine's host (0: not running)
    mounts: tuple[str, ...] | None = None  # mount destinations inside the container; None: unknown

    def __repr__(self) -> str:  # env/command/labels may hold a leaked value: never show them
        return f"ContainerInfo({self.name}, {self.status})"


def state_label(info: ContainerInfo) -> str:
    """The one word shown for a container's state: `restarting` while it restarts, else its
    health when it has a healthcheck (healthy, unhealthy, starting), else its status (running,
    exited, dead, created, ...)."""
    return "restarting" if info.restarting else info.health or info.status
