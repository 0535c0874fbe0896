"""Typed compose failures (issue 11.5): compose REJECTING the files is the operator's to fix
(exit 2); compose not finishing or not reaching the engine is a runtime failure (exit 3). A
compose stand-in on TITAN_COMPOSE answers `version` and then misbehaves as each test needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from titan_deploy.io import composerun

SCRIPT = """#!/bin/sh
case "$*" in *"version --short"*) echo 2.40.3; exit 0;; esac
{body}
"""


def stand_in(tmp_path: Path, body: str) -> dict[str, str]:
    script = tmp_path / "fake-compose"
    script.write_text(SCRIPT.format(body=body))
    script.chmod(0o755)
    return {"TITAN_COMPOSE": str(script), "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}


@pytest.fixture
def slow(tmp_path: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.setattr(composerun, "CONFIG_TIMEOUT", 1.0)
    return stand_in(tmp_path, "exec sleep 120")


def test_a_compose_timeout_in_lint_is_exit_3_not_2(cli, titan_project: Path, slow) -> None:
    result = cli("-C", titan_project, "lint", env=slow)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: docker compose config timed out after 1s")
    assert "Traceback" not in result.output


def test_a_compose_timeout_in_ups_lint_stage_is_exit_3(cli, ready_project: Path, slow) -> None:
    result = cli("-C", ready_project, "--json", "up", "--timeout", "5", env=slow)
    assert result.exit_code == 3, result.output
    assert "timed out" in result.stdout, result.stdout
    assert "Traceback" not in result.output


def test_compose_rejecting_the_files_is_a_lint_finding(cli, titan_project: Path, tmp_path) -> None:
    env = stand_in(tmp_path, "echo 'services.redis.image must be a string' >&2; exit 15")
    result = cli("-C", titan_project, "lint", env=env)
    assert result.exit_code == 1, result.output
    assert "L016" in result.stdout and "compose rejects docker-compose.prod.yml" in result.stdout
    assert "must be a string" in result.stdout


def test_compose_rejecting_what_render_would_write_is_exit_2(
    cli, titan_project: Path, tmp_path
) -> None:
    env = stand_in(tmp_path, "echo 'services.redis.image must be a string' >&2; exit 15")
    (titan_project / "docker-compose.secrets.yml").unlink()
    result = cli("-C", titan_project, "render", env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: compose rejects the merged result of")
    assert "(not written): " in result.stderr and "must be a string" in result.stderr
    assert sorted(p.name for p in titan_project.glob("*secrets.yml*")) == []


def test_compose_not_reaching_the_engine_is_exit_3(cli, titan_project: Path, tmp_path) -> None:
    body = "echo 'Cannot connect to the Docker daemon at unix:///x.sock' >&2; exit 1"
    result = cli("-C", titan_project, "lint", env=stand_in(tmp_path, body))
    assert result.exit_code == 3, result.output
    assert "the Docker engine is unreachable" in result.stderr


def test_the_error_types_carry_their_exit_codes() -> None:
    kwargs = {"argv": ["c"], "returncode": 1, "stderr": ""}
    assert composerun.ComposeRejected("x", **kwargs).exit_code == 2
    assert composerun.ComposeTimeout("x", **kwargs).exit_code == 3
    assert composerun.ComposeUnreachable("x", **kwargs).exit_code == 3


def test_check_secrets_never_runs_compose(cli, ready_project: Path, tmp_path: Path) -> None:
    """check-secrets needs the project name (a value equal to it is weak): by Compose's rule,
    computed without running Compose or touching the engine."""
    marker = tmp_path / "compose-ran"
    env = stand_in(tmp_path, "exit 1")
    script = Path(env["TITAN_COMPOSE"])
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho 2.40.3\n")  # any call leaves a mark
    env["PATH"] = str(tmp_path / "no-bin")  # nor `docker`
    result = cli("-C", ready_project, "check-secrets", env=env)
    assert result.exit_code == 0, result.output
    assert not marker.exists()
