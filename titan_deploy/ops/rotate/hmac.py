"""`rotate hmac` (phase 1) and `rotate hmac --finish` (phase 2), DESIGN §8.2.

Phase 1: listeners accept the new key and keep the old one as previous (verified healthy and
mounted), then signers sign with the new key; a new key id. Phase 2, refused before the
manifest's finish_after_hours (default 24 h) unless --force: listeners drop the previous key, the
base file takes the current value, superseded versions go.
"""

from __future__ import annotations

import os
import secrets as _random
from datetime import datetime

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import (
    Journal,
    ManifestConflict,
    find_secret,
    finish_refusal,
    iso,
    parse_version_files,
    phase2_allowed_at,
    plan_hmac,
    plan_hmac_finish,
)
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.session import (
    Progress,
    Refused,
    dry_run_report,
    outcome_report,
    pick_pending,
    refuse_if_active,
    run_plan,
    utcnow,
)
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def existing_versions(project: Project, secret: str) -> tuple[int, ...]:
    directory = project.secrets_dir
    names = os.listdir(directory) if directory.is_dir() else []
    return parse_version_files(names, secret)


def run_hmac(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    name = find_secret(project.manifest, "hmac", "hmac", settings.secret)
    spec = project.manifest.secrets[name]

    def make_plan(journal: Journal):
        if name in journal.pending:
            allowed = phase2_allowed_at(journal.pending[name])
            raise Refused(
                f"phase 1 of {name} is already done; finish it with `titan-deploy rotate hmac "
                f"--finish` (allowed from {iso(allowed)}) or undo it with `rotate abort`"
            )
        for other in sorted(journal.pending):  # e.g. the same key under its old name
            refusal = finish_refusal(project.manifest, journal, other)
            if refusal:
                raise ManifestConflict(refusal)
        return plan_hmac(
            project.manifest,
            name,
            journal.assignments,
            existing_versions(project, name),
            _random.token_hex(3),
            journal.last_version.get(name, 0),
        )

    if settings.dry_run:
        journal = journal_io.load(project)
        refuse_if_active(journal, project.manifest)
        return dry_run_report(project, make_plan(journal), "rotate hmac")
    _, outcome = run_plan(
        project,
        "rotate hmac",
        make_plan,
        settings,
        progress,
        finish_after_hours=spec.finish_after_hours,
    )
    report = outcome_report(project, "rotate hmac", outcome)
    if outcome.status == "completed":
        allowed = report.data.get("phase2_allowed_at")
        report.summary = (
            f"phase 1 of {name} done: every listener accepts the new key (id "
            f"{report.data.get('key_id')}) and the old one; signers sign with the new key. "
            f"Phase 2 (`titan-deploy rotate hmac --finish`) is allowed from {allowed}"
        )
    else:
        report.summary = f"phase 1 of {name} failed and was rolled back: {outcome.reason}"
    return report


def run_hmac_finish(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
    now: datetime | None = None,
) -> Report:
    secret, force = settings.secret, settings.force
    if secret:
        find_secret(project.manifest, "hmac", "hmac --finish", secret)

    def chosen(journal: Journal) -> str:
        return pick_pending(journal, secret)

    def check(journal: Journal) -> None:
        name = chosen(journal)
        refusal = finish_refusal(project.manifest, journal, name)
        if refusal:
            raise ManifestConflict(refusal)
        allowed = phase2_allowed_at(journal.pending[name], settings.min_age_hours)
        moment = now or utcnow()
        if moment < allowed and not force:
            left = allowed - moment
            hours, rest = divmod(int(left.total_seconds()), 3600)
            raise Refused(
                f"phase 2 of {name} is refused until {iso(allowed)} ({hours} h {rest // 60} min "
                "from now): listeners keep the old key that long so messages signed before "
                "phase 1 still verify. Pass --force to finish now"
            )

    def make_plan(journal: Journal):
        name = chosen(journal)
        return plan_hmac_finish(
            project.manifest, name, journal.assignments, existing_versions(project, name)
        )

    if settings.dry_run:
        journal = journal_io.load(project)
        refuse_if_active(journal, project.manifest)
        refusal = finish_refusal(project.manifest, journal, chosen(journal))
        if refusal:
            raise ManifestConflict(refusal)
        return dry_run_report(project, make_plan(journal), "rotate hmac --finish")
    _, outcome = run_plan(
        project, "rotate hmac --finish", make_plan, settings, progress, check=check
    )
    report = outcome_report(project, "rotate hmac --finish", outcome)
    secrets = ", ".join(report.data.get("secrets") or [])
    if outcome.status == "completed":
        report.summary = (
            f"phase 2 of {secrets} done: listeners accept only the new key (id "
            f"{report.data.get('key_id')}); the old key is retired"
        )
    else:
        report.summary = (
            f"phase 2 of {secrets} failed and was rolled back to the end of phase 1 (both keys "
            f"accepted): {outcome.reason}"
        )
    return report
