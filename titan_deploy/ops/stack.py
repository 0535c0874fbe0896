"""What the ops that touch the deployed stack share (verify, up, status, audit, rotate).

`Backends`: the engine and compose they are given (never made inside an op). `gather`: everything
`core.verify` needs — each consumer container read once (its secrets as it sees them, its
processes), all of them in parallel, plus the host files' hashes and identities. The secret
values on disk, for the leak checks. The project name is `Project.name`; verify is ops/verify.py.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat as stat_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from titan_deploy.core.limits import LIMIT_TEXT, MAX_SECRET_BYTES
from titan_deploy.core.secretvalue import trimmed
from titan_deploy.io import fs
from titan_deploy.project import Project

if TYPE_CHECKING:  # the engine, compose, verify and render modules load when first used:
    # `audit-logs --file` reads the secret values here and needs none of them (issue 15)
    from titan_deploy.core.containers import ContainerInfo
    from titan_deploy.core.overlay import OverlayPlan
    from titan_deploy.core.verify import Facts, HostFile, Identity
    from titan_deploy.io.compose import Compose, ComposeFactory
    from titan_deploy.io.engine import Engine


@dataclass(frozen=True)
class Backends:
    """What the ops that touch the stack run against, each made when first needed: `engine()`
    a connected io.engine.Engine, `compose(project_dir, files, name)` an io.compose.Compose.
    The CLI passes `real()`; unit tests pass fakes (tests/fakes.py)."""

    engine: Callable[[], Engine]
    compose: ComposeFactory


def real(project: Project | None = None) -> Backends:
    """The real Docker engine (DOCKER_HOST) and the installed Compose v2, their modules loaded
    when first called (`audit-logs --file` uses neither); every compose call gets `project`'s
    --profile and --env-file (Project.compose_options)."""
    options = project.compose_options if project is not None else {}
    return Backends(engine=_connect, compose=functools.partial(_for_project, options=options))


def _connect() -> Engine:
    from titan_deploy.io import engine as engine_io

    return engine_io.connect()


def _for_project(
    project_dir: Path, files: Sequence[str], name: str | None, options: dict | None = None
) -> Compose:
    from titan_deploy.io import compose as compose_io

    return compose_io.for_project(project_dir, files, name, **(options or {}))


def host_files(project: Project, plan: OverlayPlan) -> dict[str, HostFile]:
    """Each mounted source's host file: sha256, mtime/ctime, device+inode (of the file a
    symlink leads to: what the engine bind-mounts), and a problem when it must not be deployed.
    A missing or unreadable file is left out (verify names it)."""
    out = {}
    for source, path in plan.files:
        found = host_file(project.path(path))
        if found is not None:
            out[source] = found
    return out


def host_file(path: Path) -> HostFile | None:
    """One host file read through a single fd (hash and identity agree); None if absent."""
    from titan_deploy.core.verify import HostFile

    problem = ""
    if path.is_symlink():
        inside = path.parent.resolve()
        target = path.resolve()
        if inside not in target.parents:
            problem = "is a symlink resolving outside the secrets dir"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        if st.st_size > MAX_SECRET_BYTES:
            problem = problem or f"is over {LIMIT_TEXT}"
        digest = hashlib.sha256()
        left = MAX_SECRET_BYTES + 1  # bounded (issue 9.4): never hash more than the limit
        while left > 0 and (chunk := os.read(fd, min(1 << 16, left))):
            digest.update(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return HostFile(
        sha256=digest.hexdigest(),
        mtime=st.st_mtime,
        ctime=st.st_ctime,
        dev=st.st_dev,
        ino=st.st_ino,
        problem=problem,
    )


def checked_files(project: Project) -> dict[str, HostFile]:
    """The identity (dev, inode, sha256) of every secret file `up` is about to deploy, taken
    when check-secrets has passed: verify then proves the containers hold exactly these."""
    from titan_deploy.ops.render import current_plan

    plan = current_plan(project)
    # a config file is rendered after check-secrets (README "Config files"): not taken here
    configs = {
        m.source for s in plan.services for m in s.mounts if m.secret in project.manifest.configs
    }
    return {k: v for k, v in host_files(project, plan).items() if k not in configs}


def secret_values(project: Project) -> dict[str, bytes]:
    """Every value on disk (base files and rotation versions), for the leak checks.

    Keys are file names (`<name>` or `<name>.v<N>`, as `core.versions` parses them against the
    manifest's names); values are trimmed, as services read them."""
    return read_secret_values(project)[0]


def read_secret_values(project: Project) -> tuple[dict[str, bytes], dict[str, str]]:
    """(values, skipped): every value on disk, read bounded (issue 9.4: a 2 GB file is never
    read whole), and the files left out with why (too large, not a regular file)."""
    values: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    secrets_dir = project.secrets_dir
    if not secrets_dir.is_dir():
        return values, skipped
    for entry, path in fs.store_files(secrets_dir, project.manifest.files):
        if not path.is_file():
            continue
        try:
            value = trimmed(fs.read_secret(path))
        except OSError as exc:
            skipped[entry] = str(exc) if isinstance(exc, fs.UnsafeFile) else "unreadable"
            continue
        values[entry] = value
    return values, skipped


def identities(engine: Engine, containers: list[ContainerInfo]) -> dict[str, Identity]:
    """Who each container runs as; /etc/passwd and /etc/group are read once per image."""
    from titan_deploy.core.verify import Identity, resolve_identity

    per_image: dict[str, tuple[str | None, str | None]] = {}
    out = {}
    for info in containers:
        if not info.user:  # root: reads anything, whatever its groups
            out[info.id] = Identity(uid=0, gid=0, name="root")
            continue
        if info.image not in per_image:
            per_image[info.image] = (
                engine.read_text(info.id, "/etc/passwd"),
                engine.read_text(info.id, "/etc/group"),
            )
        passwd, group = per_image[info.image]
        out[info.id] = resolve_identity(info.user, info.group_add, passwd, group)
    return out


def gather(
    project: Project,
    engine: Engine,
    plan: OverlayPlan | None = None,
    containers: list[ContainerInfo] | None = None,
    checked: dict[str, HostFile] | None = None,
) -> Facts:
    """Everything verify needs; pass `containers` when the caller already listed the project's,
    `checked` (from `checked_files`) to prove the containers hold what check-secrets passed."""
    from titan_deploy.core.drift import fix_hints
    from titan_deploy.core.verify import Facts, reads
    from titan_deploy.ops.render import current_plan

    plan = plan or current_plan(project)
    wanted = {svc.service: [mount.container_path for mount in svc.mounts] for svc in plan.services}
    if containers is None:  # one pass: each consumer container inspected and read at once
        containers, views = engine.survey(project.name, wanted)
    else:
        containers = [c for c in containers if c.service in wanted]
        views = engine.probe(containers, {c.id: wanted[c.service] for c in containers})
    by_service: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        by_service.setdefault(info.service, []).append(info)
    processes = {cid: view.processes for cid, view in views.items() if view.processes}
    # the configured user matters only where no running process names a file (reading the
    # image's /etc/passwd costs two archive calls)
    configured = [
        info
        for svc in plan.services
        for info in by_service.get(svc.service, [])
        if any(not any(reads(p, m) for p in processes.get(info.id, ())) for m in svc.mounts)
    ]
    return Facts(
        plan=plan,
        containers=by_service,
        files={(cid, path): s for cid, view in views.items() for path, s in view.files.items()},
        host=host_files(project, plan),
        identities=identities(engine, configured),
        values=secret_values(project),
        processes=processes,
        checked=checked,
        notes={cid: view.note for cid, view in views.items() if view.note},
        fix_hints=fix_hints(project.manifest),
        project=project.name,
    )
