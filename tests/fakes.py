"""A fake Docker engine and a fake Compose for fast unit tests of `up`, `verify`, `status` and
`audit-logs` (ops/stack.py `Backends`). In memory; no socket, no subprocess.

What it supports, honestly:
- `FakeEngine`: containers per (project, service) with state (status, health, restarting, exit
  code, restarts), env, command, labels, healthcheck, configured user, image, logs (lines) and
  files (content, uid, gid, mode). `containers`, `probe` (files as the archive API would give
  them: content hash and tar header, no inode or ctime; no processes: readability is judged from
  the configured user, as with a remote engine), `read_text`, `logs` (no `since`/`until`
  filtering), `image_history_lines`, `mounts_of`. No exec, no /proc view, no networks.
- `FakeCompose`: `up` deploys what the overlay on disk says (each consumer of the current plan
  gets a running container whose env points at /run/secrets and whose files are the host files'
  bytes at that moment), then calls `after_up(engine)` so a test can break something; `down`
  removes the project's containers; `config` is a naive merge of the compose files (YAML merge
  keys, service keys overlaid, `environment` as a mapping, secret files made absolute): enough
  for lint's rules on a simple project, not Compose's full model (no `include`, `extends`,
  profiles or interpolation). `calls` records what was run.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from titan_deploy.core.containers import ContainerInfo, ContainerView, FileStat
from titan_deploy.errors import ComposeError
from titan_deploy.ops.render import current_plan
from titan_deploy.ops.stack import Backends
from titan_deploy.project import Project

FAKE_NOTE = "fake engine: archive view only"
_ids = itertools.count(1)


@dataclass
class FakeFile:
    content: bytes = field(repr=False)  # a secret's bytes: never in a failed assert
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


@dataclass
class FakeContainer:
    project: str
    service: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, FakeFile] = field(default_factory=dict)
    status: str = "running"
    health: str | None = None
    restarting: bool = False
    exit_code: int = 0
    restart_count: int = 0
    user: str = ""
    image: str = "fake/image:1"
    command: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: tuple[str, ...] = ()
    logs: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: _now())
    number: int = 1
    id: str = field(default_factory=lambda: f"fake{next(_ids):060d}")

    @property
    def name(self) -> str:
        return f"{self.project}-{self.service}-{self.number}"

    def info(self) -> ContainerInfo:
        return ContainerInfo(
            id=self.id,
            name=self.name,
            service=self.service,
            number=self.number,
            status=self.status,
            restarting=self.restarting,
            restart_count=self.restart_count,
            exit_code=self.exit_code,
            health=self.health,
            started_at=self.started_at,
            user=self.user,
            group_add=(),
            env=dict(self.env),
            command=self.command,
            labels=dict(self.labels),
            image=self.image,
            healthcheck=self.healthcheck,
            pid=0,
            mounts=tuple(self.files),
        )


class FakeEngine:
    """In-memory stand-in for io.engine.Engine (the calls the stack ops make)."""

    def __init__(self) -> None:
        self.items: list[FakeContainer] = []
        self.history: dict[str, list[str]] = {}
        self.text_files: dict[str, str] = {}  # /etc/passwd and the like, every container

    def add(self, container: FakeContainer) -> FakeContainer:
        self.items.append(container)
        return container

    def container(self, service: str) -> FakeContainer:
        """The one container of `service` (a test helper)."""
        [found] = [c for c in self.items if c.service == service]
        return found

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        mine = [c for c in self.items if c.project == project]
        mine = [c for c in mine if service is None or c.service == service]
        return sorted((c.info() for c in mine), key=lambda i: (i.service, i.number, i.name))

    def probe(
        self, containers: list[ContainerInfo], paths: Mapping[str, list[str]]
    ) -> dict[str, ContainerView]:
        out = {}
        for info in containers:
            fake = self._by_id(info.id)
            files = {p: _stat(p, fake.files.get(p)) for p in paths.get(info.id, [])}
            out[info.id] = ContainerView(files=files, processes=None, note=FAKE_NOTE)
        return out

    def survey(
        self, project: str, paths: Mapping[str, list[str]]
    ) -> tuple[list[ContainerInfo], dict[str, ContainerView]]:
        """`containers` of the services in `paths`, and their `probe` views (io/engine.py)."""
        infos = [i for i in self.containers(project) if i.service in paths]
        return infos, self.probe(infos, {i.id: paths[i.service] for i in infos})

    def read_text(self, container_id: str, path: str) -> str | None:
        return self.text_files.get(path)

    def logs(
        self,
        container_id: str,
        since: int | None = None,
        until: int | None = None,
        timestamps: bool = True,
    ) -> Iterator[bytes]:
        fake = self._by_id(container_id)
        stamp = f"{fake.started_at} " if timestamps else ""
        return iter([f"{stamp}{line}\n".encode() for line in fake.logs])

    def image_history_lines(self, image: str) -> list[str]:
        return list(self.history.get(image, []))

    def mounts_of(self, sources: list[str]) -> dict[str, list[str]]:
        return {}

    def _by_id(self, container_id: str) -> FakeContainer:
        return next(c for c in self.items if c.id == container_id)


class FakeCompose:
    """In-memory stand-in for io.compose.Compose, deploying into a FakeEngine."""

    def __init__(
        self,
        engine: FakeEngine,
        project: Project,
        after_up: Callable[[FakeEngine], None] = lambda _: None,
        fail_up: str | None = None,
    ) -> None:
        self.engine = engine
        self.project = project
        self.after_up = after_up
        self.fail_up = fail_up
        self.calls: list[str] = []

    def __call__(self, project_dir: Path, files: Sequence[str], name: str | None) -> FakeCompose:
        """The ComposeFactory: the same fake whatever the files."""
        return self

    def config(self) -> dict[str, Any]:
        self.calls.append("config")
        return naive_config(self.project)

    def services(self) -> list[str]:
        """Active services: those with no `profiles:` or one the project enables."""
        self.calls.append("services")
        enabled = set(self.project.profiles)
        services = naive_config(self.project)["services"]
        return [
            name
            for name, body in services.items()
            if not body.get("profiles") or enabled & set(body["profiles"]) or "*" in enabled
        ]

    def validate(self) -> None:
        self.calls.append("validate")

    def up(
        self, timeout: int, on_tick: Callable[[], None] | None = None, build: bool = False
    ) -> None:
        self.calls.append("up --build" if build else "up")
        self._deploy(None)
        self.after_up(self.engine)
        if on_tick:
            on_tick()
        if self.fail_up:
            raise ComposeError(self.fail_up, argv=["fake", "up"], returncode=1, stderr="")

    def recreate(
        self, timeout: int, services: Sequence[str], on_tick: Callable[[], None] | None = None
    ) -> None:
        self.calls.append("recreate " + " ".join(services))
        self._deploy(set(services))

    def _deploy(self, only: set[str] | None) -> None:
        """(Re)create the overlay's services (`only` these), reading the files on disk now."""
        name = self.project.name
        self.engine.items = [
            c
            for c in self.engine.items
            if c.project != name or (only is not None and c.service not in only)
        ]
        for svc in current_plan(self.project).services:
            if only is not None and svc.service not in only:
                continue
            files = {}
            for mount in svc.mounts:
                source = dict(current_plan(self.project).files)[mount.source]
                content = self.project.path(source).read_bytes()
                files[mount.container_path] = FakeFile(content)
            # every env var of each mount (a target-only mount, such as a config's, has none)
            env = {e: m.container_path for m in svc.mounts for e in m.envs} | dict(svc.env)
            self.engine.add(FakeContainer(name, svc.service, env=env, files=files))

    def down(self, volumes: bool = False, timeout: int = 30) -> None:
        self.calls.append("down")
        self.engine.items = [c for c in self.engine.items if c.project != self.project.name]


def backends(engine: FakeEngine, compose: FakeCompose | None = None) -> Backends:
    """Backends over the fakes (a compose factory that fails the test if none was given)."""

    def no_compose(*_: object) -> Any:
        raise AssertionError("this op must not run compose")

    return Backends(engine=lambda: engine, compose=compose or no_compose)


def naive_config(project: Project) -> dict[str, Any]:
    """The compose files merged naively (see the module doc), interpolation off."""
    merged: dict[str, Any] = {"services": {}, "secrets": {}}
    for file in project.all_compose_files():
        doc = yaml.safe_load(project.path(file).read_text()) or {}
        for name, body in (doc.get("services") or {}).items():
            target = merged["services"].setdefault(name, {})
            for key, value in (body or {}).items():
                if key == "environment":
                    target[key] = {**target.get(key, {}), **_env(value)}
                elif key == "secrets":
                    target[key] = [_secret_ref(v) for v in value]
                else:
                    target[key] = value
        for name, body in (doc.get("secrets") or {}).items():
            entry = dict(body or {})
            if "file" in entry:
                entry["file"] = str(project.path(entry["file"]).resolve())
            merged["secrets"][name] = entry
    return merged


def _env(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: "" if v is None else str(v) for k, v in value.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in value or [])


def _secret_ref(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"source": value, "target": f"/run/secrets/{value}"}
    entry = dict(value)
    target = entry.get("target") or entry["source"]
    entry["target"] = target if target.startswith("/") else f"/run/secrets/{target}"
    return entry


def _stat(path: str, fake: FakeFile | None) -> FileStat:
    if fake is None:
        return FileStat(path=path, exists=False)
    return FileStat(
        path=path,
        exists=True,
        sha256=hashlib.sha256(fake.content).hexdigest(),
        size=len(fake.content),
        uid=fake.uid,
        gid=fake.gid,
        mode=fake.mode,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
