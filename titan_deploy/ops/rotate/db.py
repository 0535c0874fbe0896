"""`rotate db`: rolling rotation of a credential that lives in a running PostgreSQL (DESIGN §8.3).

New password (a new version file) -> ALTER ROLE inside the postgres container, the SCRAM
verifier on psql's stdin -> each consumer recreated one at a time, healthy and verified before
the next; postgres itself last (its file only seeds a new data dir, but the overlay must name the
current value). Any failure restores the old password and the old files.
"""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import Journal, find_secret, plan_db
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.hmac import existing_versions
from titan_deploy.ops.rotate.session import (
    Progress,
    dry_run_report,
    outcome_report,
    refuse_if_active,
    run_plan,
)
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_db(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    name = find_secret(project.manifest, "rolling", "db", settings.secret)

    def make_plan(journal: Journal):
        return plan_db(
            project.manifest,
            name,
            journal.assignments,
            existing_versions(project, name),
            journal.last_version.get(name, 0),
        )

    if settings.dry_run:
        journal = journal_io.load(project)
        refuse_if_active(journal, project.manifest)
        return dry_run_report(project, make_plan(journal), "rotate db")
    _, outcome = run_plan(project, "rotate db", make_plan, settings, progress)
    report = outcome_report(project, "rotate db", outcome)
    version = (report.data.get("versions") or {}).get(name)
    if outcome.status == "completed":
        report.summary = (
            f"{name} rotated to v{version}: the database takes only the new password and every "
            "consumer was restarted onto it, healthy and verified"
        )
    else:
        report.summary = (
            f"{name} rotation failed and was rolled back (old password restored): {outcome.reason}"
        )
    return report
