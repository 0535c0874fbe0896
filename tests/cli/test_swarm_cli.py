"""`--swarm` and the manifest's `deploy.engine` through the CLI, without an engine
(README "Several hosts"): the options the Swarm path refuses, and that the manifest's default
selects it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def no_engine(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}


def test_help_lists_swarm(cli):
    result = cli("--help")
    assert result.exit_code == 0 and "--swarm" in result.output


def test_up_build_is_refused_on_swarm(cli, ready_project: Path, no_engine):
    result = cli("-C", ready_project, "-p", "tdx", "--swarm", "up", "--build", env=no_engine)
    assert result.exit_code == 2, result.output
    assert "--build is not supported with --swarm" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_manifest_default_selects_swarm(cli, ready_project: Path, no_engine):
    manifest = ready_project / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text() + "deploy:\n  engine: swarm\n")
    result = cli("-C", ready_project, "-p", "tdx", "down", "--volumes", env=no_engine)
    assert result.exit_code == 2, result.output
    assert "--volumes is not supported with --swarm" in result.output


def test_swarm_verify_without_an_engine_is_exit_3(cli, ready_project: Path, no_engine):
    result = cli("-C", ready_project, "-p", "tdx", "--json", "--swarm", "verify", env=no_engine)
    assert result.exit_code == 3
    assert "does not answer" in result.output
