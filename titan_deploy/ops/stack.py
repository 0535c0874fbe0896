"""Facts about the deployed stack shared by the ops that touch it (verify, up, status, rotate).

Resolves the compose project name the way compose does, and gathers everything `core.verify`
needs in as few engine round trips as possible, in parallel.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from titan_deploy.core.containers import ContainerInfo
from titan_deploy.core.drift import fix_hints
from titan_deploy.core.findings import Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.verify import Facts, HostFile, Identity, resolve_identity, verify
from titan_deploy.core.yamlpos import load_file
from titan_deploy.io.engine import Engine
from titan_deploy.ops.render import current_plan
from titan_deploy.project import Project

VERIFY_COLUMNS = [
    "service",
    "secret",
    "containers",
    "mounted",
    "content",
    "readable",
    "env",
    "running",
    "no_leak",
    "problem",
]


def project_name(project: Project) -> str:
    """-p, else COMPOSE_PROJECT_NAME, else the last `name:` in the compose files, else the dir."""
    if project.project_name:
        return project.project_name
    if os.environ.get("COMPOSE_PROJECT_NAME"):
        return os.environ["COMPOSE_PROJECT_NAME"]
    name = None
    for file in project.all_compose_files():
        path = project.path(file)
        if path.exists():
            doc = load_file(path, display=file).value
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                name = doc["name"]
    if name and "$" not in name:
        return name
    return re.sub(r"[^a-z0-9_-]", "", project.project_dir.name.lower())


def host_files(project: Project, plan: OverlayPlan) -> dict[str, HostFile]:
    out = {}
    for source, path in plan.files:
        file = project.path(path)
        if file.is_file():
            out[source] = HostFile(
                hashlib.sha256(file.read_bytes()).hexdigest(), file.stat().st_mtime
            )
    return out


def secret_values(project: Project) -> dict[str, bytes]:
    """Every value on disk (base files and rotation versions), for the leak checks."""
    values: dict[str, bytes] = {}
    secrets_dir = project.secrets_dir
    if not secrets_dir.is_dir():
        return values
    for entry in sorted(os.listdir(secrets_dir)):
        name = entry.split(".v")[0]
        path = Path(secrets_dir, entry)
        if name in project.manifest.secrets and path.is_file():
            key = name if entry == name else entry
            values[key] = path.read_bytes().strip()
    return values


def identities(engine: Engine, containers: list[ContainerInfo]) -> dict[str, Identity]:
    """Who each container runs as; /etc/passwd and /etc/group are read once per image."""
    per_image: dict[str, tuple[str | None, str | None]] = {}
    out = {}
    for info in containers:
        if not info.user and not info.group_add:
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
) -> Facts:
    """Everything verify needs; pass `containers` when the caller already listed the project's."""
    plan = plan or current_plan(project)
    consumers = {svc.service for svc in plan.services}
    if containers is None:
        containers = engine.containers(project_name(project))
    containers = [c for c in containers if c.service in consumers]
    by_service: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        by_service.setdefault(info.service, []).append(info)
    requests = [
        (info.id, mount.container_path)
        for svc in plan.services
        for info in by_service.get(svc.service, [])
        for mount in svc.mounts
    ]
    return Facts(
        plan=plan,
        containers=by_service,
        files=engine.read_files(requests),
        host=host_files(project, plan),
        identities=identities(engine, containers),
        values=secret_values(project),
        fix_hints=fix_hints(project.manifest),
    )


def verify_report(project: Project, engine: Engine, plan: OverlayPlan | None = None) -> Report:
    facts = gather(project, engine, plan)
    rows, findings = verify(facts)
    report = Report("verify", findings=findings, rows=rows, columns=VERIFY_COLUMNS)
    good = sum(1 for row in rows if not row["problem"])
    report.data = {"project": project_name(project), "pairs": len(rows), "verified": good}
    report.summary = (
        f"all {len(rows)} (service, secret) pairs verified"
        if report.ok
        else f"{len(rows) - good} of {len(rows)} (service, secret) pairs FAILED verification"
    )
    return report
