"""`rotate nats` on the Swarm path is refused up front (README "NATS credentials"): one line,
exit 2, before the engine is asked anything and before anything is written; a dry run too."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def no_engine(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("dry", [[], ["--dry-run"]])
@pytest.mark.parametrize("how", ["option", "manifest"])
def test_rotate_nats_is_refused_on_swarm(cli, ready_project: Path, no_engine, how, dry):
    args = ["-C", ready_project, "-p", "tdx"]
    if how == "option":
        args.append("--swarm")
    else:
        manifest = ready_project / "secrets.manifest.yml"
        manifest.write_text(manifest.read_text() + "deploy:\n  engine: swarm\n")
    before = _tree(ready_project)
    result = cli(*args, "rotate", "nats", *dry, env=no_engine)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "`rotate nats` is not supported with --swarm" in lines[0]
    assert "restarted, not reloaded" in lines[0]
    assert _tree(ready_project) == before  # nothing written: no journal, no version, no lock
