"""`verify`: prove every secret is mounted where it should be, same content, readable, and leaked
nowhere in env, command or labels (DESIGN §5). One row per (service, secret).

Also names the edits that will never apply (core/drift.py: D001, D002): the stack may run
exactly what it mounts while the operator's edit of a secret file reaches no container.
"""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.io import engine as engine_io
from titan_deploy.ops.check import unapplied_edits
from titan_deploy.ops.stack import verify_report
from titan_deploy.project import Project


def run_verify(project: Project) -> Report:
    report = verify_report(project, engine_io.connect())
    edits = unapplied_edits(project)
    if edits:
        report.findings += edits
        secrets = ", ".join(dict.fromkeys(str(f.secret) for f in edits))
        report.summary += f"; edited secret file(s) that will never apply: {secrets}"
    return report
