"""`verify`: prove every secret is mounted where it should be, same content, readable, and leaked
nowhere in env, command or labels (ARCHITECTURE.md, invariant 5). One row per (service, secret).

The facts are gathered by ops/stack.py (`gather`, from the engine this op is given); the decision
is core/verify.py. Also names the edits that will never apply (core/drift.py: D001, D002): the
stack may run exactly what it mounts while the operator's edit of a secret file reaches no
container.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.verify import Facts, HostFile, verify
from titan_deploy.io.compose import ComposeFactory
from titan_deploy.io.engine import Engine
from titan_deploy.ops.check import unapplied_edits
from titan_deploy.ops.render import base_documents, current_plan, service_profiles
from titan_deploy.ops.stack import Backends, gather
from titan_deploy.project import Project

if TYPE_CHECKING:
    from titan_deploy.ops.backend_verify import Expected

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
    Consumers in a profile this run does not enable are reported as not active, not verified
    (`select_active`). Raises EngineUnreachable (exit 3) without an engine."""
    plan, inactive = select_active(project, backends.compose)
    report = verify_report(project, backends.engine(), plan=plan, inactive=inactive)
    edits = unapplied_edits(project)
    if edits:
        report.findings += edits
        secrets = ", ".join(dict.fromkeys(str(f.secret) for f in edits))
        report.summary += f"; edited secret file(s) that will never apply: {secrets}"
    return report


def select_active(
    project: Project, compose_for: ComposeFactory
) -> tuple[OverlayPlan, dict[str, tuple[str, ...]]]:
    """(the overlay plan without the consumers this run's profiles leave inactive, those
    consumers -> their profiles). Compose is asked (`config --services` with --profile, else
    COMPOSE_PROFILES) only when a consumer is in a profile at all: a service without
    `profiles:` is always active. A consumer no compose file defines stays in the plan (verify
    reports it missing)."""
    plan = current_plan(project)
    profiles = service_profiles(base_documents(project))
    in_profile = {s.service for s in plan.services if profiles.get(s.service)}
    if not in_profile:
        return plan, {}
    active = project.active_services(compose_for)
    inactive = {s: profiles[s] for s in sorted(in_profile) if s not in active}
    kept = tuple(s for s in plan.services if s.service not in inactive)
    return replace(plan, services=kept), inactive


def verify_report(
    project: Project,
    engine: Engine,
    plan: OverlayPlan | None = None,
    checked: dict[str, HostFile] | None = None,
    inactive: dict[str, tuple[str, ...]] | None = None,
    expected: Expected | None = None,
) -> Report:
    """The verify Report: one row per (service, secret) with the method that proved it.
    `plan`: verify only these consumers (default: the current overlay plan); `checked`: the
    host files check-secrets passed (ops/stack.checked_files), which the containers must hold;
    `inactive`: consumers left out because their profile is not enabled (from `select_active`):
    one row each, `not active (profile X)`, neither verified nor failed; `expected`: on the
    agent path, what the containers must hold instead of the host files (ops/backend_verify.py)."""
    facts = gather(project, engine, plan, checked=checked)
    if expected is not None:  # the agent path: the backend's versions are the reference
        facts.host, facts.values = expected.host, {**facts.values, **expected.values}
    rows, findings = verify(facts)
    if project.manifest.configs and expected is None:  # agent path: the pinned derived entry
        findings += fresh_renders(project, facts, rows)
    report = Report("verify", findings=findings, rows=rows, columns=VERIFY_COLUMNS)
    good = sum(1 for row in rows if not row["problem"])
    report.data = {"project": project.name, "pairs": len(rows), "verified": good}
    if inactive:
        report.rows = [*rows, *_inactive_rows(project, inactive)]
        report.data["inactive"] = {s: list(p) for s, p in inactive.items()}
    report.data["methods"] = _count(m for row in rows for m in row["method"].split(",") if m)
    fallback = sorted(set(facts.notes.values()))
    if fallback:
        report.data["fallback"] = fallback
    report.summary = (
        f"all {len(rows)} (service, secret) pairs verified"
        if report.ok
        else f"{len(rows) - good} of {len(rows)} (service, secret) pairs FAILED verification"
    )
    if inactive:
        report.summary += "; not active: " + ", ".join(
            f"{s} ({not_active(p)})" for s, p in inactive.items()
        )
    return report


def fresh_renders(project: Project, facts: Facts, rows: list[dict]) -> list[Finding]:
    """V009 (README "Config files"): each container's config file against a fresh render, by
    hash; the rows of those pairs fail their content check. Configs of a rotation in flight
    are left out (their inputs legitimately differ mid-way)."""
    from titan_deploy.core.configs import fresh_render_findings
    from titan_deploy.io import journal as journal_io
    from titan_deploy.ops.configs import fresh_digests

    active = journal_io.load(project).active
    digests = fresh_digests(project, frozenset(active.secrets if active else ()))
    found = fresh_render_findings(facts, digests)
    for finding, label in found:
        for row in rows:
            if (row["service"], row["secret"]) == (finding.service, label):
                row["content"] = False
                row["problem"] = "; ".join(p for p in (row["problem"], finding.message) if p)
    return [finding for finding, _ in found]


def not_active(profiles: tuple[str, ...]) -> str:
    """`profile X` / `profiles X, Y`: why a consumer is not active."""
    return f"profile{'s' if len(profiles) > 1 else ''} {', '.join(profiles)}"


def _inactive_rows(project: Project, inactive: dict[str, tuple[str, ...]]) -> list[dict]:
    """One row per (service, secret) of a consumer whose profile is not enabled."""
    manifest = project.manifest
    rows = []
    for service, profiles in inactive.items():
        for spec in manifest.secrets_of(service):
            row: dict = {column: "-" for column in VERIFY_COLUMNS}
            row.update(service=service, secret=spec.name, containers=0, method="")
            row["problem"] = f"not active ({not_active(profiles)})"
            rows.append(row)
    return rows


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
