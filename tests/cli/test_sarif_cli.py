"""`--format sarif` (README "SARIF") through the real console script: check-secrets, lint,
verify and audit-logs each print one SARIF 2.1.0 log that the official OASIS schema accepts
(vendored: tests/schemas/README.md), with one rule per code, levels, and no value in any form;
every file a project-relative uri under the run's PROJECTROOT, or an absolute file URI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # a test dependency (pyproject [test]): never skipped
import pytest

from tests.canary import Canaries
from tests.cli.test_canary import plant_in_compose

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "sarif-schema-2.1.0.json").read_text())


def validate(doc: dict[str, Any]) -> None:
    """Fails the test unless `doc` is valid SARIF 2.1.0 (every schema error listed)."""
    validator_class = jsonschema.validators.validator_for(SCHEMA)
    validator = validator_class(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def assert_rooted(doc: dict[str, Any], project: Path) -> None:
    """The run names the project dir as PROJECTROOT (its file URI, ending in `/`), and every
    artifactLocation is either a relative uri under it (no scheme, no leading `/`, no `..`) or
    an absolute `file://` URI of a file outside it: never a bare relative path that a viewer
    would resolve against its own working dir."""
    run_ = doc["runs"][0]
    root = project.resolve().as_uri() + "/"
    assert run_["originalUriBaseIds"]["PROJECTROOT"]["uri"] == root
    for result in run_["results"]:
        for location in result.get("locations", []):
            artifact = location.get("physicalLocation", {}).get("artifactLocation")
            if artifact is None:
                continue
            uri = artifact["uri"]
            if "uriBaseId" in artifact:
                assert artifact["uriBaseId"] == "PROJECTROOT", artifact
                assert ":" not in uri and not uri.startswith("/"), artifact
                assert ".." not in uri.split("/"), artifact
            else:
                assert uri.startswith("file:///") and not uri.startswith(root), artifact


def run(
    project: Path, *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def env(titan_values: dict[str, bytes], tmp_path: Path) -> dict[str, str]:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    return dict(
        os.environ,
        TMPDIR=str(tmpdir),
        BYBIT_API_SECRET=titan_values["bybit_api_secret"].decode(),
        DOCKER_HOST="unix:///nonexistent/docker.sock",  # verify: no engine, a runtime failure
    )


def sarif(
    project: Path,
    env: dict[str, str],
    canaries: Canaries,
    *args: str,
    code: int,
    cwd: Path | None = None,
) -> dict:
    done = run(project, "--format", "sarif", *args, env=env, cwd=cwd)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    canaries.assert_clean(done.stdout, f"{args} stdout")
    canaries.assert_clean(done.stderr, f"{args} stderr")
    doc = json.loads(done.stdout)  # the whole of stdout is the one SARIF document
    validate(doc)
    assert_rooted(doc, project)
    return doc


def located(doc: dict[str, Any], rule: str) -> tuple[str, int]:
    """(uri, start line) of the first result of `rule`, its uri relative to PROJECTROOT."""
    hit = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == rule)
    where = hit["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uriBaseId"] == "PROJECTROOT"
    assert set(where) == {"artifactLocation", "region"} and set(where["region"]) == {"startLine"}
    return where["artifactLocation"]["uri"], where["region"]["startLine"]


def test_the_schema_rejects_what_is_not_sarif() -> None:
    """The validator is live: a log without runs, or a result with a made-up level, fails."""
    with pytest.raises(AssertionError):
        validate({"version": "2.1.0"})
    bad = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}}]}],
    }
    bad["runs"][0]["results"][0]["level"] = "info"
    with pytest.raises(AssertionError):
        validate(bad)


def test_check_secrets_sarif(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str]
) -> None:
    canaries = Canaries(titan_values)
    clean = sarif(ready_project, env, canaries, "check-secrets", code=0)
    assert clean["runs"][0]["results"] == []
    assert clean["runs"][0]["invocations"][0] == {
        "executionSuccessful": True,
        "exitCode": 0,
        "commandLine": "titan-deploy check-secrets",
    }
    store = ready_project / "secrets"
    os.chmod(store / "bybit_api_key", 0o644)  # bad mode: an error
    (store / "leftover").write_bytes(titan_values["bybit_api_key"])  # a stray file: a warning
    key = titan_values["binance_api_key"]
    (store / "binance_api_key").write_bytes(key[:20] + b" " + key[20:])  # a finding near a value
    doc = sarif(ready_project, env, canaries, "check-secrets", code=1)
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(set(ids))  # one rule per code
    assert all(rule["shortDescription"]["text"] != rule["id"] for rule in rules)
    results = run_["results"]
    assert {r["ruleId"] for r in results} == set(ids)
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {(r["ruleId"], r["level"]) for r in results}
    assert ("S009", "error") in levels  # the world-readable file
    assert ("S014", "warning") in levels  # the stray file
    mode = next(r for r in results if r["ruleId"] == "S009")
    assert mode["locations"][0]["logicalLocations"] == [
        {"name": "bybit_api_key", "kind": "resource"}
    ]


def test_lint_sarif_and_json_alias(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str]
) -> None:
    canaries = Canaries(titan_values)
    plant_in_compose(ready_project, titan_values)
    doc = sarif(ready_project, env, canaries, "lint", code=1)
    results = doc["runs"][0]["results"]
    assert {"L001", "L012"} & {r["ruleId"] for r in results}
    assert all(r["level"] in {"error", "warning", "note"} for r in results)
    # --json stays the alias of --format json; --format json prints the same document
    alias = run(ready_project, "--json", "lint", env=env)
    explicit = run(ready_project, "--format", "json", "lint", env=env)
    assert json.loads(alias.stdout) == json.loads(explicit.stdout)
    assert json.loads(alias.stdout)["command"] == "lint"


def test_audit_logs_sarif(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str], tmp_path: Path
) -> None:
    canaries = Canaries(titan_values)
    log = tmp_path / "shipped.log"
    value = titan_values["binance_api_secret"]
    log.write_bytes(b"ok\nleaked " + value + b"\nb64 " + base64.b64encode(value) + b"\n")
    doc = sarif(ready_project, env, canaries, "audit-logs", "--file", str(log), code=1)
    hits = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "A001"]
    assert len(hits) == 2
    assert all(r["level"] == "error" for r in hits)
    assert all(r["properties"]["secret"] == "binance_api_secret" for r in hits)
    where = [r["locations"][0]["physicalLocation"] for r in hits]
    assert [w["region"]["startLine"] for w in where] == [2, 3]
    assert {w["artifactLocation"]["uri"] for w in where} == {log.as_uri()}  # outside the project
    logical = [n["name"] for r in hits for n in r["locations"][0].get("logicalLocations", [])]
    assert "-" not in logical  # a log file is no service: its file is the location


def test_a_log_inside_the_project_given_from_another_dir_is_relative_to_projectroot(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str], tmp_path: Path
) -> None:
    """`--file` is relative to the working dir, a finding's file to the project dir: a log
    given as `project/logs/app.log` from the project's parent is `logs/app.log` under
    PROJECTROOT (a viewer opening the project finds it), not a path of the working dir."""
    (ready_project / "logs").mkdir()
    log = ready_project / "logs" / "app.log"
    log.write_bytes(b"leaked " + titan_values["binance_api_secret"] + b"\n")
    given = os.path.relpath(log, ready_project.parent)
    doc = sarif(
        ready_project,
        env,
        Canaries(titan_values),
        "audit-logs",
        "--file",
        given,
        code=1,
        cwd=ready_project.parent,
    )
    assert located(doc, "A001") == ("logs/app.log", 1)


def test_check_secrets_env_file_finding_is_relative_to_projectroot(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str]
) -> None:
    """check-secrets' file findings (S025: a production value in a dev env file) carry file and
    line, relative to PROJECTROOT."""
    db = titan_values["titan_db_password"].decode()
    (ready_project / "svc").mkdir()
    (ready_project / "svc" / ".env.local").write_text(f"# dev\nDB_PASSWORD={db}\n")
    doc = sarif(ready_project, env, Canaries(titan_values), "check-secrets", code=1)
    assert located(doc, "S025") == ("svc/.env.local", 2)


def test_verify_failure_is_a_sarif_log(
    ready_project: Path, titan_values: dict[str, bytes], env: dict[str, str]
) -> None:
    """No engine (exit 3): still one valid SARIF log, the error as a tool notification."""
    doc = sarif(ready_project, env, Canaries(titan_values), "verify", code=3)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 3
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
    assert doc["runs"][0]["results"] == []


def test_usage_error_under_sarif(ready_project: Path, env: dict[str, str]) -> None:
    done = run(ready_project, "--format", "sarif", "check-secrets", "--no-such-option", env=env)
    assert done.returncode == 2
    validate(json.loads(done.stdout))
    bad = run(ready_project, "--format", "xml", "check-secrets", env=env)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "Traceback" not in bad.stderr


def test_lint_sarif_has_file_line_and_waivers_as_suppressions(tmp_path: Path) -> None:
    """A base file's literal (L015) at its file:line; a waived L011 as an accepted external
    suppression with the waiver's reason; exit 0 as in text mode; no value anywhere."""
    from tests.cli.test_waivers_cli import WAIVE_L011, Project

    project = Project(tmp_path)
    project.waivers(WAIVE_L011)
    rc, stdout, stderr = project.run("--format", "sarif", "lint")
    assert rc == 0, (stdout, stderr)
    project.canaries.assert_clean(stdout + stderr, "lint --format sarif")
    doc = json.loads(stdout)
    validate(doc)
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert_rooted(doc, project.root)
    literal = results["L015"]["locations"][0]["physicalLocation"]
    assert literal == {
        "artifactLocation": {"uri": "docker-compose.yml", "uriBaseId": "PROJECTROOT"},
        "region": {"startLine": 12},
    }
    assert "suppressions" not in results["L015"]
    assert results["L011"]["level"] == "error"
    assert results["L011"]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "upstream redis reads requirepass only from argv (OPS-412)",
        }
    ]
