"""`verify`: prove every secret is mounted where it should be, same content, readable, and leaked
nowhere in env, command or labels (DESIGN §5). One row per (service, secret)."""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.io import engine as engine_io
from titan_deploy.ops.stack import verify_report
from titan_deploy.project import Project


def run_verify(project: Project) -> Report:
    return verify_report(project, engine_io.connect())
