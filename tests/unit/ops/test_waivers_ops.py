"""Waivers through the ops that apply them (ops/check.waived): `up` passes its lint stage on a
waived finding, keeps it (stage-stamped, with its reason) in its report, and stops there once the
waiver has expired. Against the fake engine and compose (tests/fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeCompose, FakeEngine, backends
from titan_deploy.ops.up import run_up
from titan_deploy.project import Project

ARGV_READ = '    command: ["sh", "-c", "exec console --token \\"$$(cat /run/secrets/x)\\""]\n'
WAIVER = """
waivers:
  - code: L011
    service: titan-console
    reason: the console image takes its token only on argv (VENDOR-7)
"""


@pytest.fixture
def project(ready_project: Path) -> Project:
    prod = ready_project / "docker-compose.prod.yml"
    marker = "  titan-console:\n    <<: *service\n"
    assert marker in prod.read_text()
    prod.write_text(prod.read_text().replace(marker, marker + ARGV_READ))
    return Project(project_dir=ready_project, project_name="tdwaive")


def up(project: Project):
    engine = FakeEngine()
    return run_up(project, backends(engine, FakeCompose(engine, project)), timeout=5)


def test_up_stops_at_lint_on_the_argv_read(project: Project) -> None:
    report = up(project)
    assert not report.ok and "up stopped at lint" in report.summary
    assert [(f.code, f.stage) for f in report.errors] == [("L011", "lint")]


def test_up_passes_a_waived_finding_and_keeps_it_in_its_report(project: Project) -> None:
    manifest = project.project_dir / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text() + WAIVER)
    report = up(project)
    assert report.ok, [f.message for f in report.errors]
    waived = [f for f in report.findings if f.waived]
    assert [(f.code, f.stage, f.service) for f in waived] == [("L011", "lint", "titan-console")]
    assert report.to_dict()["findings"][0]["waived"]["reason"].endswith("(VENDOR-7)")


def test_up_stops_again_once_the_waiver_expired(project: Project) -> None:
    manifest = project.project_dir / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text() + WAIVER + "    expires: 2021-03-01\n")
    report = up(project)
    assert not report.ok
    assert {f.code for f in report.findings} >= {"L011", "W002"}
