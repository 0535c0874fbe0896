"""Executed reloads on the real engine (issue 12 item 2, README "Reload and proofs"): the demo's
nats reloads `configs: nats_auth_conf` with `nats-server --signal reload` instead of being
recreated. Its target's DIRECTORY is bind-mounted (core/livemount.py), so a repoint (the
rotation's own effect, ops/rotate/effects.repoint) renames the new version into that directory
and the running nats-server reads it on reload: the same container (never recreated) then
admits a user it did not know, and its proof line is awaited since the reload only."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.test_demo_nats import container, login
from titan_deploy.core.configs import render
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import Change, CheckLog, Journal, Repoint, Verify
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.effects import StackEffects
from titan_deploy.ops.rotate.runner import StepFailed
from titan_deploy.project import Project

pytestmark = pytest.mark.docker


def test_a_reload_applies_a_new_version_to_the_running_nats_server(demo):
    before = container(demo, "nats").id
    user, password = b"tdnew" + secrets.token_hex(6).encode(), secrets.token_hex(16).encode()
    assert login(demo, user, password) == "connect refused: Authorization Violation"
    project = Project(
        project_dir=demo.root,
        project_name=demo.name,
        compose_file_options=["docker-compose.prod.yml", "demo/docker-compose.demo.yml"],
    )
    # version 1 of the config: the old user and a new one (what `rotate nats` provisions)
    source = (demo.root / "templates/nats_auth.conf.j2").read_text()
    old = render("t", source, {k: demo.values[k] for k in ("nats_user", "nats_password")})
    new = render("t", source, {"nats_user": user, "nats_password": password})
    both = old.split(b"}]")[0] + b"}, " + new.split(b"[")[1]
    v1 = demo.root / "secrets" / "nats_auth_conf.v1"
    v1.write_bytes(both)
    v1.chmod(0o640)
    change = Change("nats", "nats_auth_conf", Assignment(1))
    journal = Journal(assignments={"nats_auth_conf": {"nats": Assignment(1)}})
    journal_io.save(project, journal)
    effects = StackEffects(project, timeout=120, log_timeout=60).connect()
    note = effects.repoint(Repoint((change,)), journal)
    assert "reloaded nats" in note and "recreated" not in note.replace("nothing to recreate", "")
    assert effects.check_log(CheckLog("nats", "Reloaded server configuration")).startswith("/")
    # verify proves the container holds v1 (content through its own root; a live file's
    # replacement after start is no V002); its only finding is V009: v1 is not a render of the
    # inputs as they are (a rotation in flight is exempt; this hand-made version is not)
    with pytest.raises(StepFailed) as failed:
        effects.verify(Verify(("nats",)))
    problems = str(failed.value).removeprefix("verify failed: ").split("; ")
    assert problems == [
        f"nats/nats_auth_conf: {demo.name}-nats-1: /run/secrets/nats/auth.conf is not what config "
        "nats_auth_conf renders from its template and inputs now"
    ]
    assert container(demo, "nats").id == before  # reloaded, not recreated
    assert login(demo, user, password) == "ACCEPTED"
    assert login(demo, demo.values["nats_user"], demo.values["nats_password"]) == ("ACCEPTED")
