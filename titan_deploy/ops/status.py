"""`status` and `down`: what operators expect next to `up`."""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.core.verify import verify
from titan_deploy.io import deployed as deployed_io
from titan_deploy.ops.check import add_ages, oldest
from titan_deploy.ops.stack import Backends, gather
from titan_deploy.ops.verify import not_active, select_active
from titan_deploy.project import Project

STATUS_COLUMNS = ["service", "containers", "state", "health", "restarts", "secrets"]


def run_status(project: Project, backends: Backends) -> Report:
    """One row per service: containers, state, health, restarts, and how many of its secrets
    verify; a consumer in a profile this run does not enable says `not active (profile X)`
    instead, as verify does (ops/verify.select_active). Raises EngineUnreachable (exit 3)
    without an engine."""
    plan, inactive = select_active(project, backends.compose)
    engine = backends.engine()
    name = project.name
    containers = engine.containers(name)
    facts = gather(project, engine, plan, containers=containers)
    rows, _ = verify(facts)
    verified: dict[str, list[bool]] = {}
    for row in rows:
        verified.setdefault(row["service"], []).append(not row["problem"])
    report = Report("status", columns=STATUS_COLUMNS)
    report.rows = service_rows(containers, verified, inactive)
    running = sum(1 for i in containers if i.status == "running")
    report.data = {"project": name, "containers": len(containers), "running": running}
    if inactive:
        report.data["inactive"] = {s: list(p) for s, p in inactive.items()}
    ages = add_ages(project, report)  # README "What `check-secrets` checks"
    report.summary = f"project {name}: {running}/{len(containers)} containers running"
    report.summary += oldest(ages)
    return report


def service_rows(
    containers: list, verified: dict[str, list[bool]], inactive: dict[str, tuple[str, ...]]
) -> list[dict]:
    """status's rows: one per service (running, verified or inactive), sorted: its containers,
    state, health, restarts and `N/M verified` (`verified`: service -> one bool per pair)."""
    by_service: dict[str, list] = {}
    for info in containers:
        by_service.setdefault(info.service, []).append(info)
    rows = []
    for service in sorted(set(by_service) | set(verified) | set(inactive)):
        infos = by_service.get(service, [])
        checks = verified.get(service, [])
        secrets = f"{sum(checks)}/{len(checks)} verified" if checks else "-"
        if service in inactive:
            secrets = f"not active ({not_active(inactive[service])})"
        rows.append(
            {
                "service": service,
                "containers": len(infos),
                "state": _join(i.status for i in infos) or "absent",
                "health": _join(i.health or "-" for i in infos) or "-",
                "restarts": sum(i.restart_count for i in infos),
                "secrets": secrets,
            }
        )
    return rows


def _join(values) -> str:
    return ",".join(sorted(set(values)))


def run_down(
    project: Project, backends: Backends, volumes: bool = False, timeout: int = 30
) -> Report:
    """`compose down` (and its volumes: then the deploy record is dropped). ComposeError (3)."""
    name = project.name
    backends.compose(project.project_dir, project.all_compose_files(), name).down(volumes, timeout)
    if volumes:  # the database volume is gone: its next init reads the file as it is (D002)
        deployed_io.forget(project)
    report = Report("down")
    report.data = {"project": name, "volumes_removed": volumes}
    report.summary = f"project {name} is down" + (" (volumes removed)" if volumes else "")
    return report
