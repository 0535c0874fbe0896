"""`rotate db`: rolling rotation of a credential that lives in a running PostgreSQL (README "2.
Database password").

New password (a new version file) -> ALTER ROLE inside the postgres container, the SCRAM
verifier on psql's stdin -> each consumer recreated one at a time, healthy and verified before
the next; postgres itself last (its file only seeds a new data dir, but the overlay must name the
current value). Any failure restores the old password and the old files.
"""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import Journal, Plan, find_secret, plan_db
from titan_deploy.ops.configs import config_history
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import Progress, existing_versions
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_db(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    """Rotate the manifest's rolling secret with a provision entry (or settings.secret)."""
    name = find_secret(project.manifest, "rolling", "db", settings.secret)

    def plan(journal: Journal) -> Plan:
        return plan_db(
            project.manifest,
            name,
            journal.assignments,
            existing_versions(project, name),
            journal.last_version.get(name, 0),
            configs=config_history(project, journal, [name]),
        )

    def summary(report: Report, outcome: Outcome) -> str:
        if outcome.status != "completed":
            return f"{name} rotation failed and was rolled back (old password restored): " + str(
                outcome.reason
            )
        version = (report.data.get("versions") or {}).get(name)
        return (
            f"{name} rotated to v{version}: the database takes only the new password and every "
            "consumer was restarted onto it, healthy and verified"
        )

    return run(project, Command("rotate db", summary, plan=plan), settings, progress)
