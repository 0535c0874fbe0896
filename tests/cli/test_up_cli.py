"""`up` through the CLI, as far as it goes without an engine (issue 8, classes 6 and 8).

DOCKER_HOST points at a socket that does not exist, so nothing here can reach a real engine:
`up` must decide everything these tests check (stage findings, edits that never apply, the
rotation gate) before it connects. Journals are written by the real plan and journal code."""

from __future__ import annotations

import json
import secrets as pyrandom
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.cli.test_json_contract import FINDING_KEYS, assert_report_shape
from tests.conftest import write_secret
from titan_deploy.core.overlay import file_name
from titan_deploy.core.rotation import (
    Journal,
    Plan,
    RemoveVersions,
    SyncBase,
    WriteVersion,
    apply_steps,
    complete,
    plan_db,
    plan_exchange,
    plan_hmac,
    plan_hmac_finish,
    start,
)
from titan_deploy.io import journal as journal_io
from titan_deploy.project import Project

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DB = "titan_db_password"
H = "titan_hmac_secret"
GID = 10500


@pytest.fixture
def no_engine(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}


def up(cli, project: Path, env: dict[str, str], *, json_mode: bool = True):
    args = ["-C", project, *(["--json"] if json_mode else []), "up", "--timeout", "5"]
    return cli(*args, env=env)


def run_rotation(project: Project, plan: Plan, journal: Journal | None = None) -> Journal:
    """Play `plan` to its end as the executor would on disk (files, then the journal), with the
    real start/complete functions, and save it with the real journal writer."""
    secrets_dir = project.secrets_dir
    journal = start(plan, journal or journal_io.load(project), f"{plan.procedure}-x", NOW)
    for step in plan.steps:
        if isinstance(step, WriteVersion):
            source = secrets_dir / file_name(step.secret, step.copy_of)
            data = (
                source.read_bytes()
                if step.source == "copy"
                else pyrandom.token_hex(32).encode()
                if step.secret == H
                else pyrandom.token_urlsafe(32).encode()
            )
            write_secret(secrets_dir / f"{step.secret}.v{step.version}", data, GID)
        elif isinstance(step, SyncBase):
            data = (secrets_dir / f"{step.secret}.v{step.version}").read_bytes()
            write_secret(secrets_dir / step.secret, data, GID)
        elif isinstance(step, RemoveVersions):
            for version in step.versions:
                (secrets_dir / f"{step.secret}.v{version}").unlink(missing_ok=True)
    journal = replace(journal, assignments=apply_steps(journal.assignments, plan.steps))
    journal = complete(journal, NOW)
    journal_io.save(project, journal)
    return journal


def edit(path: Path) -> bytes:
    """A new valid value of the secret's kind in its file (an operator's edit)."""
    value = (pyrandom.token_hex(32) if path.name == H else pyrandom.token_urlsafe(32)).encode()
    write_secret(path, value, GID)
    return value


def findings_by_code(doc: dict) -> dict[str, dict]:
    return {f["code"]: f for f in doc["findings"]}


# --- class 6: every stage's findings, stamped with their stage ----------------------------------


def add_env(project: Path, service: str, env: dict[str, str]) -> None:
    path = project / "docker-compose.prod.yml"
    doc = yaml.safe_load(path.read_text())
    body = doc["services"][service]
    current = body.get("environment") or {}
    if isinstance(current, list):
        current = dict(item.split("=", 1) for item in current)
    body["environment"] = {**current, **env}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_up_keeps_check_secrets_warnings_when_lint_fails(cli, ready_project, no_engine) -> None:
    stray = ready_project / "secrets" / "leftover"  # S014: a warning of check-secrets
    write_secret(stray, b"a file no manifest entry claims", GID)
    add_env(ready_project, "titan-hunter", {"API_TOKEN": "${API_TOKEN}"})  # L001: a lint error
    result = up(cli, ready_project, no_engine)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert_report_shape(doc, "up", 1, finding_keys=FINDING_KEYS | {"stage"})
    by_code = findings_by_code(doc)
    assert by_code["S014"]["stage"] == "check-secrets"
    assert by_code["S014"]["severity"] == "warning"
    assert by_code["L001"]["stage"] == "lint"
    assert {f["stage"] for f in doc["findings"]} == {"check-secrets", "lint"}
    assert doc["summary"].startswith("up stopped at lint:")
    assert "1 warning(s) from check-secrets" in doc["summary"]
    stages = {s["stage"]: s for s in doc["data"]["stages"]}
    assert (stages["check-secrets"]["ok"], stages["check-secrets"]["warnings"]) == (True, 1)
    assert (stages["lint"]["ok"], stages["lint"]["errors"]) == (False, 1)

    table = up(cli, ready_project, no_engine, json_mode=False)
    assert table.exit_code == 1
    lines = table.stdout.splitlines()
    assert any("check-secrets" in line and "S014" in line for line in lines), table.stdout
    assert any("lint" in line and "L001" in line for line in lines), table.stdout
    assert "stage" in table.stdout


def test_up_stopped_at_check_secrets_stamps_its_findings(cli, ready_project, no_engine) -> None:
    (ready_project / "secrets" / "gemini_api_key").write_bytes(b"short")
    doc = json.loads(up(cli, ready_project, no_engine).stdout)
    assert_report_shape(doc, "up", 1, finding_keys=FINDING_KEYS | {"stage"})
    assert [(f["code"], f["stage"]) for f in doc["findings"]] == [("S006", "check-secrets")]
    assert doc["data"]["stages"][0]["stage"] == "check-secrets"


def test_other_commands_keep_the_pinned_finding_shape(cli, ready_project) -> None:
    (ready_project / "secrets" / "gemini_api_key").write_bytes(b"short")
    doc = json.loads(cli("-C", ready_project, "--json", "check-secrets").stdout)
    assert [set(f) for f in doc["findings"]] == [FINDING_KEYS]


# --- class 8a: a base file edited after a rotation ------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "secret", "version", "command"),
    [
        ("db", DB, 1, "titan-deploy rotate db"),
        ("hmac", H, 2, "titan-deploy rotate hmac"),
        ("exchange", "binance_api_key", 1, "titan-deploy rotate exchange binance"),
    ],
)
def test_base_file_edited_after_rotation_is_named_by_check_and_up(
    cli, ready_project, no_engine, procedure, secret, version, command
) -> None:
    project = Project(project_dir=ready_project)
    manifest = project.manifest
    if procedure == "db":
        run_rotation(project, plan_db(manifest, DB, {}, ()))
    elif procedure == "hmac":
        journal = run_rotation(project, plan_hmac(manifest, H, {}, (), "t0"))
        run_rotation(project, plan_hmac_finish(manifest, H, journal.assignments, (1, 2)))
    else:
        run_rotation(project, plan_exchange(manifest, "binance", {}, {}))
    assert cli("-C", ready_project, "check-secrets").exit_code == 0

    canary = edit(ready_project / "secrets" / secret)
    check = cli("-C", ready_project, "--json", "check-secrets")
    assert check.exit_code == 1, check.output
    (finding,) = json.loads(check.stdout)["findings"]
    assert (finding["code"], finding["secret"]) == ("D001", secret)
    assert f"secrets/{secret}.v{version}" in finding["message"]
    assert f"`{command}`" in finding["fix"]
    assert "redeploy" not in finding["fix"]

    result = up(cli, ready_project, no_engine)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    (finding,) = doc["findings"]
    assert (finding["code"], finding["stage"]) == ("D001", "check-secrets")
    assert doc["summary"].startswith("up stopped at check-secrets")
    assert canary.decode() not in check.output + result.output


# --- class 8c: up while a rotation is in flight ------------------------------------------------


def test_up_refuses_a_rotation_in_flight(cli, ready_project, no_engine) -> None:
    project = Project(project_dir=ready_project)
    plan = plan_db(project.manifest, DB, {}, ())
    journal = start(plan, Journal(), "db-20250301T120000Z-ab12", NOW)
    journal.active.done = 2
    journal.active.in_progress = 2
    journal_io.save(project, journal)

    result = up(cli, ready_project, no_engine, json_mode=False)
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "db-20250301T120000Z-ab12" in line
    assert "step 3/" in line and "repoint titan-brain" in line
    assert "`titan-deploy rotate resume`" in line and "`titan-deploy rotate abort`" in line

    doc = json.loads(up(cli, ready_project, no_engine).stdout)
    assert (doc["command"], doc["exit_code"], doc["ok"]) == ("up", 3, False)
    assert "rotate resume" in doc["error"]
    # nothing was rendered from the half-done journal
    assert "titan_db_password_v1" not in (ready_project / "docker-compose.secrets.yml").read_text()


def test_up_runs_while_hmac_phase2_is_pending(cli, ready_project, no_engine) -> None:
    """Phase 1 done, phase 2 pending is not in flight: up renders that state (and stops at lint
    here only because of an unrelated lint error: there is no engine)."""
    project = Project(project_dir=ready_project)
    journal = run_rotation(project, plan_hmac(project.manifest, H, {}, (), "t0"))
    assert journal.pending and journal.active is None
    add_env(ready_project, "titan-hunter", {"API_TOKEN": "${API_TOKEN}"})
    result = up(cli, ready_project, no_engine)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"].startswith("up stopped at lint")
    assert [f["code"] for f in doc["findings"]] == ["L001"]  # no D001: the base is v1, in use
    overlay = (ready_project / "docker-compose.secrets.yml").read_text()
    assert "titan_hmac_secret_v2" in overlay and "titan_hmac_secret.previous" in overlay


def test_findings_so_far_reach_stderr_when_up_fails_at_runtime(
    cli, ready_project, no_engine
) -> None:
    """No engine: exit 3 and one error line; check-secrets' warning is still shown (progress)."""
    stray = ready_project / "secrets" / "leftover"
    write_secret(stray, b"a file no manifest entry claims", GID)
    result = up(cli, ready_project, no_engine, json_mode=False)
    assert result.exit_code == 3, result.output
    assert len([x for x in result.stderr.splitlines() if x.startswith("error:")]) == 1
    assert "check-secrets: warning S014" in result.stderr
