"""Issue 16 fresh-user pass: the bugs a first run found, end to end through the console script."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_age_env_cli import CONSOLE_SCRIPT, DB, findings, run
from tests.conftest import require
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.journal import Journal
from titan_deploy.io import journal as journal_io
from titan_deploy.project import Project

# --- 1. the versioned file a consumer mounts gets the mode checks ------------------------------


def _mount_v2(project_dir: Path, secondary: int | None = None) -> Path:
    store = project_dir / "secrets"
    shutil.copy2(store / DB, store / f"{DB}.v2")
    v2 = Assignment(version=2, secondary=secondary)
    journal_io.save(
        Project(project_dir=project_dir),
        Journal(assignments={DB: {"postgres": v2, "titan-brain": v2}}),
    )
    return store / f"{DB}.v2"


def test_a_mounted_version_files_mode_is_checked_and_fixed(ready_project: Path) -> None:
    v2 = _mount_v2(ready_project)
    v2.chmod(0o666)
    done = run(ready_project, "--json", "check-secrets")
    assert done.returncode == 1, done.stdout
    (bad,) = [f for f in findings(json.loads(done.stdout), "S009") if f"{DB}.v2" in f["message"]]
    assert bad["secret"] == DB
    fixed = run(ready_project, "check-secrets", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert stat.S_IMODE(os.lstat(v2).st_mode) & 0o137 == 0  # 0640 or 0600


def test_a_secondary_version_is_checked_too(ready_project: Path) -> None:
    store = ready_project / "secrets"
    shutil.copy2(store / DB, store / f"{DB}.v1")
    _mount_v2(ready_project, secondary=1)
    (store / f"{DB}.v1").chmod(0o644)
    doc = json.loads(run(ready_project, "--json", "check-secrets").stdout)
    assert any(f"{DB}.v1" in f["message"] for f in findings(doc, "S009"))


# --- 4. S025 skips `sensitive: false` configuration --------------------------------------------


def test_a_sensitive_false_value_in_an_env_file_is_not_s025(
    ready_project: Path, titan_values: dict[str, bytes]
) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    marker = "  titan_hmac_secret:\n"
    manifest.write_text(manifest.read_text().replace(marker, f"{marker}    sensitive: false\n"))
    hmac_key = titan_values["titan_hmac_secret"].decode()
    db = titan_values[DB].decode()
    (ready_project / ".env.local").write_text(f"SIGNING_KEY={hmac_key}\nDB_PASSWORD={db}\n")
    done = run(ready_project, "--json", "check-secrets")
    assert "Traceback" not in done.stderr, done.stderr
    assert [f["secret"] for f in findings(json.loads(done.stdout), "S025")] == [DB]


# --- 6. a full stdout is one line on stderr, exit 3, for every command -------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["schema"],
        ["history"],
        ["check-secrets"],
        ["--json", "check-secrets"],
        ["--format", "sarif", "check-secrets"],
        ["--json", "lint"],
        ["--json", "no-such-command"],
    ],
)
def test_a_full_stdout_is_one_line_exit_3(ready_project: Path, args: list[str]) -> None:
    require(Path("/dev/full").exists(), "/dev/full (a device that is always full)")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "-C", str(ready_project), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: cannot write the output to stdout: No space left on device"
    ]


# --- 8. history records name what a rotation recreated ------------------------------------------


def test_a_rotations_history_record_names_the_recreated_services(ready_project: Path) -> None:
    from titan_deploy.core.history import what_of
    from titan_deploy.core.rotation.steps import Change, Repoint, Verify, WriteVersion
    from titan_deploy.ops.rotate.report import outcome_report
    from titan_deploy.ops.rotate.runner import Outcome

    v2 = Assignment(version=2)
    steps = (
        WriteVersion("titan_hmac_secret", 2, "generate"),
        Repoint((Change("titan-brain", "titan_hmac_secret", v2),)),
        Verify(("titan-brain", "postgres")),
    )
    outcome = Outcome(journal=Journal(), status="completed", forward_steps=steps)
    report = outcome_report(Project(project_dir=ready_project), "rotate secret", outcome)
    assert what_of(report)["services"] == ["titan-brain"]


# --- 9. SARIF locations for .env and history findings -----------------------------------------


def test_env_findings_carry_file_and_line_in_json_and_sarif(
    ready_project: Path, titan_values: dict[str, bytes]
) -> None:
    db = titan_values[DB].decode()
    (ready_project / ".env.local").write_text(f"# dev\nDB_PASSWORD={db}\n")
    doc = json.loads(run(ready_project, "--json", "check-secrets").stdout)
    (reuse,) = findings(doc, "S025")
    assert (reuse["file"], reuse["line"]) == (".env.local", 2)
    sarif = json.loads(run(ready_project, "--format", "sarif", "check-secrets").stdout)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "S025"]
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == ".env.local"
    assert physical["region"] == {"startLine": 2}


def test_a_history_problem_carries_the_logs_file_and_line(ready_project: Path) -> None:
    for _ in range(2):
        assert run(ready_project, "render").returncode == 0
    log = ready_project / ".titan-deploy" / "history.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0].replace('"render"', '"renderX"') + lines[1])
    doc = json.loads(run(ready_project, "--json", "history", "--verify").stdout)
    problems = findings(doc, "H003")
    assert problems and problems[0]["file"] == ".titan-deploy/history.jsonl"
    assert problems[0]["line"] == 1


# --- 10. schema and validator agree on a waiver's `expires` ------------------------------------


@pytest.mark.parametrize("expires", ["'20991231'", "'2099-W52-1'"])
def test_an_expires_not_yyyy_mm_dd_is_refused_by_both(ready_project: Path, expires: str) -> None:
    import jsonschema
    import yaml

    manifest = ready_project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text()
        + f"\nwaivers:\n  - {{code: S024, secret: {DB}, reason: 'yearly', "
        + f"expires: {expires}}}\n"
    )
    done = run(ready_project, "check-secrets")
    assert done.returncode == 2 and "expires" in done.stderr, done.stderr
    schema = json.loads(run(ready_project, "schema").stdout)
    errors = list(
        jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(manifest.read_text()))
    )
    assert errors
