"""`verify`: prove every secret is mounted where it should be, same content, readable, and leaked
nowhere in env, command or labels (ARCHITECTURE.md, invariant 5). One row per (service, secret).

The facts are gathered by ops/stack.py (`gather`, from the engine this op is given); the decision
is core/verify.py. Also names the edits that will never apply (core/drift.py: D001, D002): the
stack may run exactly what it mounts while the operator's edit of a secret file reaches no
container.
"""

from __future__ import annotations

from collections.abc import Iterable

from titan_deploy.core.findings import Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.verify import HostFile, verify
from titan_deploy.io.engine import Engine
from titan_deploy.ops.check import unapplied_edits
from titan_deploy.ops.stack import Backends, gather
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
    "method",
    "problem",
]


def run_verify(project: Project, backends: Backends) -> Report:
    """The verify Report of the running stack, plus the secret edits that will never apply.
    Raises EngineUnreachable (exit 3) without an engine."""
    report = verify_report(project, backends.engine())
    edits = unapplied_edits(project)
    if edits:
        report.findings += edits
        secrets = ", ".join(dict.fromkeys(str(f.secret) for f in edits))
        report.summary += f"; edited secret file(s) that will never apply: {secrets}"
    return report


def verify_report(
    project: Project,
    engine: Engine,
    plan: OverlayPlan | None = None,
    checked: dict[str, HostFile] | None = None,
) -> Report:
    """The verify Report: one row per (service, secret) with the method that proved it.
    `plan`: verify only these consumers (default: the current overlay plan); `checked`: the
    host files check-secrets passed (ops/stack.checked_files), which the containers must hold."""
    facts = gather(project, engine, plan, checked=checked)
    rows, findings = verify(facts)
    report = Report("verify", findings=findings, rows=rows, columns=VERIFY_COLUMNS)
    good = sum(1 for row in rows if not row["problem"])
    report.data = {"project": project.name, "pairs": len(rows), "verified": good}
    report.data["methods"] = _count(m for row in rows for m in row["method"].split(",") if m)
    fallback = sorted(set(facts.notes.values()))
    if fallback:
        report.data["fallback"] = fallback
    report.summary = (
        f"all {len(rows)} (service, secret) pairs verified"
        if report.ok
        else f"{len(rows) - good} of {len(rows)} (service, secret) pairs FAILED verification"
    )
    return report


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
