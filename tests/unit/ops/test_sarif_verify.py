"""verify and up as SARIF (core/sarif.py) on the fake stack: a valid SARIF 2.1.0 log (the vendored
OASIS schema) with the V-codes as rules at the service and secret, and no value in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_sarif_cli import assert_rooted, validate
from tests.fakes import FakeCompose, FakeEngine, FakeFile, backends
from titan_deploy.core.sarif import sarif_log
from titan_deploy.ops.render import run_render
from titan_deploy.ops.up import run_up
from titan_deploy.ops.verify import run_verify
from titan_deploy.project import Project

DB = "titan_db_password"


@pytest.fixture
def project(ready_project: Path) -> Project:
    return Project(project_dir=ready_project, project_name="tdfake")


def test_verify_findings_as_sarif(project: Project) -> None:
    value = (project.secrets_dir / DB).read_bytes().strip().decode()
    engine = FakeEngine()
    run_render(project)
    FakeCompose(engine, project).up(60)
    engine.container("titan-brain").env["DB_PASSWORD"] = value
    engine.container("postgres").files[f"/run/secrets/{DB}"] = FakeFile(b"another-value-0000")
    doc = sarif_log(run_verify(project, backends(engine)), "0", str(project.project_dir))
    validate(doc)
    assert_rooted(doc, project.project_dir)
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} >= {"V002", "V006"}
    leak = next(r for r in results if r["ruleId"] == "V006")
    assert leak["locations"][0]["logicalLocations"] == [
        {"name": "titan-brain", "kind": "module"},
        {"name": DB, "kind": "resource"},
    ]
    assert value not in json.dumps(doc)


def test_a_clean_up_is_a_valid_empty_sarif_log(project: Project) -> None:
    engine = FakeEngine()
    report = run_up(project, backends(engine, FakeCompose(engine, project)), timeout=5)
    doc = sarif_log(report, "0", str(project.project_dir))
    validate(doc)
    assert_rooted(doc, project.project_dir)
    assert doc["runs"][0]["invocations"][0]["exitCode"] == 0
