"""`rotate hmac` (phase 1) and `rotate hmac --finish` (phase 2), README "1. HMAC key".

Phase 1: listeners accept the new key and keep the old one as previous (verified healthy and
mounted), then signers sign with the new key; a new key id. Phase 2, refused before the
manifest's finish_after_hours (default 24 h) unless --force: listeners drop the previous key, the
base file takes the current value, superseded versions go.
"""

from __future__ import annotations

import secrets as _random
from datetime import datetime

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import (
    Journal,
    ManifestConflict,
    Plan,
    find_secret,
    finish_refusal,
    iso,
    phase2_allowed_at,
    plan_hmac,
    plan_hmac_finish,
)
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import (
    Progress,
    Refused,
    existing_versions,
    pick_pending,
    utcnow,
)
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_hmac(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    """Phase 1 of the manifest's HMAC secret (or settings.secret). Refused (exit 1) while its
    phase 1 awaits phase 2; ManifestConflict (exit 2) when another pending phase 1 conflicts."""
    name = find_secret(project.manifest, "hmac", "hmac", settings.secret)

    def plan(journal: Journal) -> Plan:
        if name in journal.pending:
            allowed = phase2_allowed_at(journal.pending[name])
            raise Refused(
                f"phase 1 of {name} is already done; finish it with `titan-deploy rotate hmac "
                f"--finish` (allowed from {iso(allowed)}) or undo it with `rotate abort`"
            )
        for other in sorted(journal.pending):  # e.g. the same key under its old name
            _refuse_conflict(project, journal, other)
        return plan_hmac(
            project.manifest,
            name,
            journal.assignments,
            existing_versions(project, name),
            _random.token_hex(3),
            journal.last_version.get(name, 0),
        )

    def summary(report: Report, outcome: Outcome) -> str:
        if outcome.status != "completed":
            return f"phase 1 of {name} failed and was rolled back: {outcome.reason}"
        return (
            f"phase 1 of {name} done: every listener accepts the new key (id "
            f"{report.data.get('key_id')}) and the old one; signers sign with the new key. "
            "Phase 2 (`titan-deploy rotate hmac --finish`) is allowed from "
            f"{report.data.get('phase2_allowed_at')}"
        )

    return run(project, Command("rotate hmac", summary, plan=plan), settings, progress)


def run_hmac_finish(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
    now: datetime | None = None,
) -> Report:
    """Phase 2 of the pending HMAC phase 1 (settings.secret names it when several await).
    Refused (exit 1) before settings.min_age_hours (else the journal's finish_after_hours)
    unless settings.force; a dry run shows the plan whatever its age."""
    if settings.secret:
        find_secret(project.manifest, "hmac", "hmac --finish", settings.secret)

    def plan(journal: Journal) -> Plan:
        name = pick_pending(journal, settings.secret)
        _refuse_conflict(project, journal, name)
        if not settings.dry_run:
            _refuse_early(name, journal, settings, now or utcnow())
        return plan_hmac_finish(
            project.manifest, name, journal.assignments, existing_versions(project, name)
        )

    def summary(report: Report, outcome: Outcome) -> str:
        secrets = ", ".join(report.data.get("secrets") or [])
        if outcome.status != "completed":
            return (
                f"phase 2 of {secrets} failed and was rolled back to the end of phase 1 (both "
                f"keys accepted): {outcome.reason}"
            )
        return (
            f"phase 2 of {secrets} done: listeners accept only the new key (id "
            f"{report.data.get('key_id')}); the old key is retired"
        )

    command = Command("rotate hmac --finish", summary, plan=plan)
    return run(project, command, settings, progress)


def _refuse_conflict(project: Project, journal: Journal, name: str) -> None:
    refusal = finish_refusal(project.manifest, journal, name)
    if refusal:
        raise ManifestConflict(refusal)


def _refuse_early(name: str, journal: Journal, settings: RotateSettings, now: datetime) -> None:
    allowed = phase2_allowed_at(journal.pending[name], settings.min_age_hours)
    if now < allowed and not settings.force:
        left = allowed - now
        hours, rest = divmod(int(left.total_seconds()), 3600)
        raise Refused(
            f"phase 2 of {name} is refused until {iso(allowed)} ({hours} h {rest // 60} min "
            "from now): listeners keep the old key that long so messages signed before "
            "phase 1 still verify. Pass --force to finish now"
        )
