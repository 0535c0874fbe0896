"""`rotate secret NAME` through the CLI (issue 10 item 5): the plan, the refusals (exit 2, one line
naming the right command), the new value's checks, and no value in any output (the canary rule,
tests/canary.py) in every mode. The rotation on a real engine: tests/integration/
test_rotation_restart.py."""

from __future__ import annotations

import json
import secrets as pyrandom
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.canary import Canaries
from titan_deploy.cli.app import app

MODES = [[], ["--json"], ["-v"], ["--json", "-v"]]
GEMINI, GRAFANA = "gemini_api_key", "grafana_admin_password"


def invoke(project: Path, *args: str, stdin: str | None = None):
    runner = CliRunner()
    return runner.invoke(app, ["-C", str(project), *args], input=stdin, catch_exceptions=False)


def one_line_error(result) -> str:
    assert "Traceback" not in result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("mode", MODES)
def test_dry_run_shows_the_plan_in_every_mode(ready_project: Path, titan_values, mode) -> None:
    canaries = Canaries(titan_values)
    result = invoke(ready_project, *mode, "rotate", "secret", GEMINI, "--dry-run")
    assert result.exit_code == 0, result.output
    canaries.assert_clean(result.output, f"{mode} dry run")
    if "--json" in mode:
        doc = json.loads(result.stdout)
        assert doc["data"]["procedure"] == "restart"
        actions = [r["action"] for r in doc["rows"] if r.get("phase", "forward") == "forward"]
        assert actions[:3] == ["write-version", "repoint", "verify"]
        assert "sync-base" in actions
    else:
        assert "write gemini_api_key.v1: the new value you supplied" in result.stdout


def test_dry_run_with_generate_and_a_verify_log_proof(ready_project: Path) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    text = manifest.read_text().replace(
        "    consumers:\n      grafana: GF_SECURITY_ADMIN_PASSWORD__FILE",
        "    verify_log: 'HTTP Server Listen'\n"
        "    consumers:\n      grafana: GF_SECURITY_ADMIN_PASSWORD__FILE",
    )
    manifest.write_text(text)
    result = invoke(ready_project, "--json", "rotate", "secret", GRAFANA, "--generate", "--dry-run")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    steps = [r["step"] for r in doc["rows"] if r.get("phase", "forward") == "forward"]
    assert "a new random value" in steps[0]
    assert "HTTP Server Listen" in steps[3]  # the log proof, after the verify


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["titan_hmac_secret"], "rotate it with `titan-deploy rotate hmac`"),
        (["titan_db_password"], "rotate it with `titan-deploy rotate db`"),
        (["binance_api_key"], "rotate it with `titan-deploy rotate exchange binance`"),
        (["nope"], "no secret nope in secrets.manifest.yml"),
        ([GEMINI, "--generate"], "has generate: false"),
        ([GRAFANA, "--generate", "--from-file", "x"], "exclude each other"),
    ],
)
def test_refusals_are_one_line_exit_2_naming_the_command(
    ready_project: Path, args: list[str], expected: str
) -> None:
    for dry in ([], ["--dry-run"]):
        result = invoke(ready_project, "rotate", "secret", *args, *dry)
        assert result.exit_code == 2, result.output
        assert expected in one_line_error(result)
    doc = json.loads(invoke(ready_project, "--json", "rotate", "secret", *args).stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2 and expected in doc["error"]


def test_a_refusal_reads_no_value(ready_project: Path) -> None:
    """The kind is refused before stdin is read: a value piped in is never consumed."""
    result = invoke(ready_project, "rotate", "secret", "titan_hmac_secret", stdin="x" * 40 + "\n")
    assert result.exit_code == 2 and "rotate hmac" in result.output


def test_the_new_value_is_checked_and_never_echoed(ready_project: Path, titan_values) -> None:
    new = pyrandom.token_urlsafe(30)
    canaries = Canaries({**titan_values, "new": new.encode()})
    current = titan_values[GEMINI].decode()
    other = titan_values["binance_api_key"].decode()
    cases = [
        (f"{current}\n", "the value already in use"),
        (f"{other}\n", "is the value of binance_api_key"),
        ("changeme\n", f"the new {GEMINI} is"),
        (f"{new}\n{new}x\n", "needs one value, got 2 lines"),
        ("", "stdin is empty"),
    ]
    for mode in MODES:
        for stdin, expected in cases:
            result = invoke(ready_project, *mode, "rotate", "secret", GEMINI, stdin=stdin)
            assert result.exit_code == 2, (stdin, result.output)
            assert expected in result.output, result.output
            canaries.assert_clean(result.output, f"{mode} {expected}")
    path = ready_project / "bad"
    path.write_text(current)
    result = invoke(ready_project, "rotate", "secret", GEMINI, "--from-file", str(path))
    assert result.exit_code == 2 and "already in use" in result.output
    missing = invoke(ready_project, "rotate", "secret", GEMINI, "--from-file", "/nonexistent")
    assert missing.exit_code == 2 and "cannot read the new gemini_api_key" in missing.output
    assert not list((ready_project / "secrets").glob("*.v*"))  # nothing written


def test_a_good_value_without_an_engine_journals_nothing(
    ready_project: Path, titan_values, monkeypatch
) -> None:
    """A valid value reaches the run; with no engine it fails before anything is journaled
    (exit 3), and the value appears nowhere: not in the output, the journal or a file."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    new = pyrandom.token_urlsafe(30)
    canaries = Canaries({**titan_values, "new": new.encode()})
    result = invoke(ready_project, "--json", "rotate", "secret", GEMINI, stdin=new + "\n")
    assert result.exit_code == 3, result.output
    canaries.assert_clean(result.output, "no engine")
    assert not list((ready_project / "secrets").glob("*.v*"))
    state = ready_project / ".titan-deploy" / "state.json"
    if state.exists():
        assert json.loads(state.read_text()).get("active") is None
        canaries.assert_clean(state.read_text(), "journal")


def test_a_dry_run_checks_the_file_it_is_given(ready_project: Path, titan_values) -> None:
    """`--dry-run --from-file F` reads and checks F like the run would (exit 2 when it is
    missing or holds a value in use); with a good file it shows the plan. Same for exchange."""
    current = titan_values[GEMINI]
    bad = ready_project / "bad"
    bad.write_bytes(current)
    good = ready_project / "good"
    good.write_text(pyrandom.token_urlsafe(30))
    for path, expected in (("/nonexistent", "cannot read the new"), (str(bad), "already in use")):
        result = invoke(ready_project, "rotate", "secret", GEMINI, "--from-file", path, "--dry-run")
        assert result.exit_code == 2 and expected in result.output, result.output
    result = invoke(
        ready_project, "rotate", "secret", GEMINI, "--from-file", str(good), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    missing = ["--from-file", "/nonexistent", "--from-file", "/nonexistent2"]
    result = invoke(ready_project, "rotate", "exchange", "binance", *missing, "--dry-run")
    assert result.exit_code == 2 and "cannot read the new" in result.output, result.output
    assert not list((ready_project / "secrets").glob("*.v*"))
