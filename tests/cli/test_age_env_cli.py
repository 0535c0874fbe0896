"""Secret age and `.env` hygiene (README "What `check-secrets` checks")
end to end through the console script; status' ages against the fake engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.canary import Canaries
from tests.conftest import require
from tests.fakes import FakeCompose, FakeEngine, backends
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.journal import Journal
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.render import run_render
from titan_deploy.ops.status import run_status
from titan_deploy.project import Project

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
DAY = 86400
DB = "titan_db_password"


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(project), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def set_max_age(project: Path, secret: str, days: object) -> None:
    manifest = project / "secrets.manifest.yml"
    text = manifest.read_text()
    marker = f"  {secret}:\n"
    assert marker in text
    manifest.write_text(text.replace(marker, f"{marker}    max_age_days: {days}\n", 1))


def age_file(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def findings(doc: dict, code: str) -> list[dict]:
    return [f for f in doc["findings"] if f["code"] == code]


# --- secret age ---------------------------------------------------------------------------------


def test_a_secret_older_than_max_age_days_is_a_warning(ready_project: Path) -> None:
    set_max_age(ready_project, DB, 30)
    age_file(ready_project / "secrets" / DB, 40.5)
    done = run(ready_project, "--json", "check-secrets")
    assert done.returncode == 0, done.stdout  # a warning: check-secrets fails on errors only
    doc = json.loads(done.stdout)
    (old,) = findings(doc, "S024")
    assert old["severity"] == "warning" and old["secret"] == DB
    assert old["message"] == f"secrets/{DB} is 40 days old; max_age_days is 30"
    ages = {a["secret"]: a for a in doc["data"]["ages"]}
    assert ages[DB] == {
        "secret": DB,
        "file": DB,
        "age_days": 40,
        "max_age_days": 30,
        "too_old": True,
    }
    assert ages["titan_hmac_secret"]["age_days"] == 0
    assert ages["titan_hmac_secret"]["max_age_days"] is None
    human = run(ready_project, "check-secrets")
    assert "40 days old" in human.stdout
    age_file(ready_project / "secrets" / DB, 29)
    assert not findings(json.loads(run(ready_project, "--json", "check-secrets").stdout), "S024")


def test_an_old_secret_can_be_waived_with_a_reason(ready_project: Path) -> None:
    """S024 is a judgement: a waiver accepts it, and the report still shows it, waived."""
    set_max_age(ready_project, DB, 30)
    age_file(ready_project / "secrets" / DB, 40.5)
    manifest = ready_project / "secrets.manifest.yml"
    waiver = f"waivers:\n  - {{code: S024, secret: {DB}, reason: rotation booked for OPS-7}}\n"
    manifest.write_text(manifest.read_text() + waiver)
    doc = json.loads(run(ready_project, "--json", "check-secrets").stdout)
    (old,) = findings(doc, "S024")
    assert old["waived"]["reason"] == "rotation booked for OPS-7"
    assert not findings(doc, "W001")  # the waiver matched: not stale


def test_the_age_is_the_current_versions(ready_project: Path) -> None:
    """After a rotation the consumers mount `<name>.v<N>`: its mtime is the value's age."""
    project = Project(project_dir=ready_project)
    store = ready_project / "secrets"
    shutil.copy2(store / DB, store / f"{DB}.v2")
    age_file(store / DB, 100)
    age_file(store / f"{DB}.v2", 3)
    v2 = Assignment(version=2)
    journal_io.save(project, Journal(assignments={DB: {"postgres": v2, "titan-brain": v2}}))
    set_max_age(ready_project, DB, 10)
    doc = json.loads(run(ready_project, "--json", "check-secrets").stdout)
    ages = {a["secret"]: a for a in doc["data"]["ages"]}
    assert ages[DB]["file"] == f"{DB}.v2" and ages[DB]["age_days"] == 3
    assert not findings(doc, "S024")


@pytest.mark.parametrize("bad", ["0", "-1", "'30'", "true", "1.5", "40000"])
def test_a_bad_max_age_days_is_one_line_exit_2(ready_project: Path, bad: str) -> None:
    set_max_age(ready_project, DB, bad)
    done = run(ready_project, "check-secrets")
    assert done.returncode == 2
    assert "max_age_days" in done.stderr and "Traceback" not in done.stderr


def test_status_shows_each_secrets_age(ready_project: Path) -> None:
    project = Project(project_dir=ready_project, project_name="tdfake")
    set_max_age(ready_project, DB, 5)
    age_file(ready_project / "secrets" / DB, 9)
    engine = FakeEngine()
    compose = FakeCompose(engine, project)
    run_render(project)
    compose.up(60)
    report = run_status(project, backends(engine))
    assert {a["secret"]: a["age_days"] for a in report.data["ages"]}[DB] == 9
    assert [(f.code, f.secret) for f in report.findings] == [("S024", DB)]
    assert report.summary.endswith(f"; oldest secret: {DB}, 9 day(s)")


# --- .env hygiene -------------------------------------------------------------------------------


def test_a_production_value_in_an_env_file_is_named_never_shown(
    ready_project: Path, titan_values: dict[str, bytes]
) -> None:
    project = ready_project
    db = titan_values[DB].decode()
    hmac_key = titan_values["titan_hmac_secret"].decode()
    (project / ".env.development").write_text(f"# dev\nDEBUG=1\nDB_PASSWORD='{db}'\n")
    (project / "svc").mkdir()
    (project / "svc" / ".env.local").write_text(f"export SIGNING_KEY={hmac_key}\n")
    (project / ".env.example").write_text("DB_PASSWORD=changeme\nOTHER=a-dev-only-value\n")
    (project / "notenv").write_text(f"X={db}\n")  # not an env file: not searched
    canaries = Canaries(titan_values)
    for mode in ([], ["--json"], ["-v"]):
        done = run(project, *mode, "check-secrets")
        assert done.returncode == 1
        canaries.assert_clean(done.stdout, f"{mode} stdout")
        canaries.assert_clean(done.stderr, f"{mode} stderr")
    doc = json.loads(run(project, "--json", "check-secrets").stdout)
    assert [(f["secret"], f["message"]) for f in findings(doc, "S025")] == [
        (DB, f".env.development:3: DB_PASSWORD equals the production secret {DB}"),
        (
            "titan_hmac_secret",
            "svc/.env.local:1: SIGNING_KEY equals the production secret titan_hmac_secret",
        ),
    ]
    assert all(f["severity"] == "error" for f in findings(doc, "S025"))
    assert not findings(doc, "S026")  # no git repository: the tracked check is skipped silently


def test_an_env_file_git_tracks_is_flagged(ready_project: Path) -> None:
    require(shutil.which("git") is not None, "git")
    project = ready_project
    (project / ".env.local").write_text("DEBUG=1\n")
    (project / ".env.example").write_text("DEBUG=0\n")
    (project / ".env.staging").write_text("DEBUG=0\n")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(
        ["git", "-C", str(project), "add", "-f", ".env.local", ".env.example"], check=True
    )
    doc = json.loads(run(project, "--json", "check-secrets").stdout)
    assert [f["message"] for f in findings(doc, "S026")] == [
        ".env.local is tracked by git: env files hold local settings and often secrets"
    ]
    assert {f["severity"] for f in findings(doc, "S026")} == {"warning"}


def test_init_git_ignores_env_files_but_not_the_template(titan_project: Path) -> None:
    require(shutil.which("git") is not None, "git")
    subprocess.run(["git", "init", "-q", str(titan_project)], check=True)
    assert run(titan_project, "init").returncode == 0

    def ignored(rel: str) -> bool:
        done = subprocess.run(["git", "-C", str(titan_project), "check-ignore", "-q", rel])
        return done.returncode == 0

    assert ignored(".env") and ignored(".env.local") and ignored("svc/.env.production")
    assert ignored(".titan-deploy/history.jsonl")
    assert not ignored(".env.example")
