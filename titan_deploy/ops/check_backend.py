"""`titan-deploy check-secrets --backend` (README "Secrets managers"): check-secrets' value
checks against the manifest's backend instead of the secrets dir: each secret present, not
empty, its kind, its size, not a placeholder. Values are read into memory only (never written
to disk) and never shown; findings name the backend path (`openbao:secret/titan/x`) and use
check-secrets' codes, so waivers apply as to the local check; each secret's age comes from the
backend's version metadata (S024, ops/backend_ages.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.findings import Finding, Report, error
from titan_deploy.core.valuechecks import content_findings
from titan_deploy.ops.check import waived
from titan_deploy.ops.push import Opener, connect, where
from titan_deploy.project import Project

COLUMNS = ["secret", "location", "version", "status"]


def run_check_backend(
    project: Project, *, opener: Opener | None = None, now: float | None = None
) -> Report:
    """Every manifest secret's current backend value through check-secrets' value checks, and
    its age from the backend's version metadata at `now` (epoch seconds, default the clock:
    `data.ages`, S024 past `max_age_days`; ops/backend_ages.py), and each pinned version the
    backend lost (B007) or may lose (B008). Exit 1 on an error finding; 2
    no backend in the manifest; 3 the backend unreachable or refusing."""
    from titan_deploy.core.secretage import age_findings
    from titan_deploy.ops.backend_ages import stored_age

    backend = connect(project, opener)
    config = backend.config
    report = Report("check-secrets", columns=COLUMNS)
    findings = []
    ages = []
    clock = time.time() if now is None else now
    for spec in project.manifest.stored.values():
        location = config.location(spec.name)
        stored = backend.read(spec.name)
        if stored is None:
            found = [
                error(
                    "S001",
                    f"{location} does not exist in the backend",
                    secret=spec.name,
                    fix="titan-deploy push",
                )
            ]
        else:
            shown = config.location(spec.name)
            found = list(content_findings(spec, stored.value, Path(shown), where(project, shown)))
        findings += found
        age = None if stored is None else stored_age(backend, spec, stored, clock)
        ages += [age] if age is not None else []
        status = "missing" if stored is None else ("ok" if not found else "findings")
        version = stored.version if stored else ""
        report.rows.append(
            {"secret": spec.name, "location": location, "version": version, "status": status}
        )
    if project.manifest.configs:  # derived entries (ops/agent_configs.py)
        from titan_deploy.ops.agent_configs import check_configs

        rows, found = check_configs(project, backend)
        report.rows += rows
        findings += found
    findings += pin_findings(project, backend)
    report.findings = waived(project, findings + age_findings(ages, ""), "S")
    report.data = {"backend": config.type, "secrets": len(project.manifest.stored)}
    report.data["ages"] = [a.to_dict() for a in ages]
    if project.manifest.configs:
        report.data["configs"] = len(project.manifest.configs)
    bad = sum(1 for row in report.rows if row["status"] != "ok")
    report.summary = f"{len(report.rows) - bad} of {len(report.rows)} secrets ok in {config.type}"
    return report


def pin_findings(project: Project, backend: SecretBackend) -> list[Finding]:
    """B007 (error) per pinned version (`.titan-deploy/backend-pins.json`) the backend lost:
    destroyed, deleted, missing; B008 (warning) per one it may lose: next in line for KV v2's
    max_versions, or a Secrets Manager version without titan-deploy's label
    (core/backendhold.py). [] without pins (the local path)."""
    from titan_deploy.core.backendhold import pin_findings as findings_of
    from titan_deploy.io import backendpins

    out: list[Finding] = []
    for secret, versions in sorted(backendpins.load(project).items()):
        kept = {str(v) for v in versions.values()}
        states = backend.pin_states(secret, kept) if kept else []
        out += findings_of(backend.config.location(secret), secret, states)
    return out
