"""A rotation's steps name the files they write, as they are on disk: beside a secret's `file:`
(`db/password.txt.v1`), not the secret's name (`db_password.v1`) — in the dry run, the status of
a rotation in flight, and `up`'s refusal while one is (core/rotation/steps `describe(files)`)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

from tests.projectkit import small_project
from titan_deploy.core.rotation import Journal, plan_restart
from titan_deploy.core.rotation.transitions import start
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.report import dry_run_report
from titan_deploy.ops.rotate.status import run_status
from titan_deploy.ops.up import in_flight_message

MANIFEST = """\
version: 1
compose_files: [compose.yml]
secrets:
  db_password:
    kind: password
    file: db/password.txt
    consumers: {web: DB_PASSWORD_FILE}
"""


def test_steps_name_the_file_beside_file_not_the_secret(tmp_path: Path) -> None:
    value = secrets.token_urlsafe(24).encode()
    project = small_project(tmp_path, MANIFEST, {"db/password.txt": value})
    plan = plan_restart(project.manifest, "db_password", {}, (), 0, "input")
    shown = [row["step"] for row in dry_run_report(project, plan, "rotate secret").rows]
    assert any("write db/password.txt.v1" in step for step in shown), shown
    assert any("copy db/password.txt.v1 to db/password.txt" in step for step in shown), shown
    assert not any("db_password.v" in step for step in shown), shown

    journal = start(plan, Journal(), "run-1", datetime.now(timezone.utc))
    journal_io.save(project, journal)
    message = in_flight_message(journal) or ""
    assert "write db/password.txt.v1" in message
    rows = run_status(project).rows
    assert any("db/password.txt.v1" in str(row["detail"]) for row in rows), rows
    assert not any("db_password.v1" in str(row["detail"]) for row in rows), rows
