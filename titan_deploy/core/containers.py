"""What the tool knows about a running container and a file inside it: plain values.

The io layer (Docker SDK) fills these; the pure verification logic reads them. Neither carries a
secret's content: a file is known by its hash and tar header, and the reprs of a container hide
its env, command and labels (where a leaked value could sit).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileStat:
    """A file read from a container: its hash and tar header — never its content."""

    path: str
    exists: bool
    sha256: str = ""
    size: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0
    error: str = ""


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

    def __repr__(self) -> str:  # env/command/labels may hold a leaked value: never show them
        return f"ContainerInfo({self.name}, {self.status})"
