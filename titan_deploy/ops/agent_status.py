"""`status` on the agent path (README "Secrets managers"): the same rows as ops/status.py (one
per service: containers, state, health, restarts, `N/M verified`), where a pair is verified
against the KV version its file is pinned to (ops/agent_stack.py `agent_verify_report`), not a
local file; and in `data` what the agent path has instead of a secrets dir: the pins
(`.titan-deploy/backend-pins.json`), each entry's latest version in the backend, per
consumer each file with the version it should hold and whether it does, and each secret's age
from the backend's version metadata (`data.ages`, S024 as on the local path). No local secret
file is read (there may be none); values are read into memory for the hashes only.
"""

from __future__ import annotations

from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.findings import Report, warning
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.secretage import age_findings
from titan_deploy.errors import RuntimeFailure
from titan_deploy.ops.backend_ages import backend_ages
from titan_deploy.ops.check import oldest
from titan_deploy.ops.stack import Backends
from titan_deploy.ops.status import STATUS_COLUMNS, service_rows
from titan_deploy.project import Project


def run_agent_status(project: Project, backends: Backends) -> Report:
    """status of the agent path (module doc). Exit 0 (a failed pair shows in its row, as on the
    local path); a warning B004 per secret whose backend holds a newer version than the one
    deployed (`up` or a rotation moves it there); an error B007 per pinned version the backend
    lost (its pairs then unverified), a warning B008 per one it may lose (ops/check_backend.py
    `pin_findings`). ConfigError (2) for the manifest or a credential file; the engine or the
    backend unreachable exit 3."""
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import agent_verify_report, connect
    from titan_deploy.ops.check_backend import pin_findings
    from titan_deploy.ops.verify import select_active

    plan, inactive = select_active(project, backends.compose)
    backend = connect(project)
    engine = backends.engine()
    lost = pin_findings(project, backend)
    try:
        checked = agent_verify_report(project, engine, backend, plan, inactive)
    except RuntimeFailure:
        if not any(f.code == "B007" for f in lost):
            raise
        checked = Report("verify")  # a pinned version is gone: B007 says which; rows unverified
        checked.data = {"verified": 0, "pairs": "?"}
    containers = engine.containers(project.name)
    verified: dict[str, list[bool]] = {}
    for row in checked.rows:
        if row["service"] not in inactive:
            verified.setdefault(row["service"], []).append(not row["problem"])
    report = Report("status", columns=STATUS_COLUMNS)
    report.rows = service_rows(containers, verified, inactive)
    pins = backendpins.load(project)
    latest = latest_versions(project, backend)
    running = sum(1 for i in containers if i.status == "running")
    report.data = {
        "project": project.name,
        "containers": len(containers),
        "running": running,
        "backend": backend.config.type,
        "pins": pins,
        "backend_versions": latest,
        "consumers": consumer_state(plan, checked),
    }
    if inactive:
        report.data["inactive"] = {s: list(p) for s, p in inactive.items()}
    report.findings += lost + _undeployed(backend, pins, latest)
    ages = backend_ages(project, backend)  # ops/backend_ages.py
    report.findings += age_findings(ages, "")
    report.data["ages"] = [a.to_dict() for a in ages]
    report.summary = (
        f"project {project.name}: {running}/{len(containers)} containers running; "
        f"{checked.data['verified']}/{checked.data['pairs']} pairs hold their pinned version"
    ) + oldest(ages)
    return report


def latest_versions(project: Project, backend: SecretBackend) -> dict[str, str | None]:
    """Each secret and config -> the version its entry holds now (None: no entry)."""
    out: dict[str, str | None] = {}
    for name in project.manifest.secrets:  # a config's derived entry too
        stored = backend.read(name)
        out[name] = None if stored is None else stored.version
    return out


def consumer_state(plan: OverlayPlan, checked: Report) -> dict[str, list[dict]]:
    """service -> one entry per file it mounts: secret, container path, the backend version it
    should hold (`kv_version`) and whether verify proved it does (`ok`)."""
    problems = {(r["service"], r["secret"]): r["problem"] for r in checked.rows}
    versions = checked.data.get("kv_versions", {})
    out: dict[str, list[dict]] = {}
    for svc in plan.services:
        out[svc.service] = [
            {
                "secret": mount.secret,
                "file": mount.container_path,
                "kv_version": versions.get(mount.source),
                "ok": not problems.get((svc.service, mount.label), "absent"),
            }
            for mount in svc.mounts
        ]
    return out


def _undeployed(
    backend: SecretBackend, pins: dict[str, dict[str, int | str]], latest: dict[str, str | None]
) -> list:
    from titan_deploy.core.agent import BASE

    out = []
    for name, version in latest.items():
        base = pins.get(name, {}).get(BASE)
        if version is not None and base is not None and version != str(base):
            out.append(
                warning(
                    "B004",
                    f"{backend.config.location(name)}: version {version} is not deployed "
                    f"(consumers hold version {base})",
                    secret=name,
                    fix="titan-deploy up (or a rotation) moves the consumers to it",
                )
            )
    return out
