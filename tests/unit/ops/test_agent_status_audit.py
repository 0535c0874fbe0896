"""`status` and `audit-logs` on the agent path (ops/agent_status.py, ops/agent_audit.py): with no
secrets dir on this host, status reports the pins, the backend's versions and each consumer's
file against its pinned version; audit-logs searches the backend's values (latest and pinned).
Through the CLI, against the fake engine (tests/fakes.py) and an in-memory backend; the real
server: tests/integration/test_backend_agent_audit.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.canary import Canaries
from tests.fakes import FakeCompose, FakeEngine
from tests.projectkit import API_TOKEN, small_project
from tests.unit.ops.test_backend_verify import VersionedBackend
from titan_deploy.ops import agent_stack, stack
from titan_deploy.ops.render import run_render
from titan_deploy.ops.stack import Backends
from titan_deploy.project import Project

AGENT = (
    "backend: {type: openbao, address: 'http://bao:8200', "
    "auth: {role_id_file: r, secret_id_file: s}, agent: {}}\n"
)
TOKEN = b"the-first-api-token-" + b"a" * 24
NEWER = b"a-newer-central-token-" + b"b" * 24


@pytest.fixture
def agent_project(tmp_path: Path, monkeypatch) -> tuple[Path, FakeEngine, VersionedBackend]:
    """The fake stack up holding TOKEN, the backend holding TOKEN (v1, pinned) and NEWER (v2),
    and no secrets dir any more; the CLI wired to the fake engine and this backend."""
    project = small_project(tmp_path / "p", API_TOKEN + AGENT, {"api_token": TOKEN})
    project = Project(project_dir=project.project_dir, project_name="tdagent")
    engine = FakeEngine()
    run_render(project)  # the fake compose deploys from a rendered overlay (the agent's stand-in)
    fake = FakeCompose(engine, project)
    fake.up(60)
    shutil.rmtree(project.project_dir / "secrets")
    state = project.project_dir / ".titan-deploy"
    state.mkdir(exist_ok=True)
    (state / "backend-pins.json").write_text(json.dumps({"api_token": {"base": 1}}))
    backend = VersionedBackend({"api_token": [TOKEN, NEWER]})
    monkeypatch.setattr(stack, "real", lambda *_: Backends(engine=lambda: engine, compose=fake))
    monkeypatch.setattr(agent_stack, "connect", lambda _project: backend)
    return project.project_dir, engine, backend


def canaries() -> Canaries:
    return Canaries({"token": TOKEN, "newer": NEWER})


def test_status_reports_pins_backend_versions_and_consumers(agent_project, cli) -> None:
    root, engine, _ = agent_project
    result = cli("-C", root, "-p", "tdagent", "--json", "status")
    canaries().assert_clean(result.stdout + result.stderr, "status")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert [(r["service"], r["secrets"]) for r in doc["rows"]] == [("web", "1/1 verified")]
    assert doc["data"]["pins"] == {"api_token": {"base": 1}}
    assert doc["data"]["backend_versions"] == {"api_token": "2"}
    assert doc["data"]["consumers"] == {
        "web": [
            {"secret": "api_token", "file": "/run/secrets/api_token", "kv_version": "1", "ok": True}
        ]
    }
    assert [f["code"] for f in doc["findings"]] == ["B004"]  # version 2 is not deployed
    # ages come from the backend's version metadata, never a local file; this in-memory backend
    # gives no creation time, so no age (the real servers: test_backend_servers.py)
    assert doc["data"]["ages"] == []

    # a container holding another value than its pin: its pair fails, status still exits 0
    engine.container("web").files["/run/secrets/api_token"].content = NEWER
    doc = json.loads(cli("-C", root, "-p", "tdagent", "--json", "status").stdout)
    assert doc["rows"][0]["secrets"] == "0/1 verified"
    assert doc["data"]["consumers"]["web"][0]["ok"] is False


def test_audit_logs_searches_the_pinned_and_the_latest_version(
    agent_project, cli, tmp_path: Path
) -> None:
    root, engine, _ = agent_project
    log = tmp_path / "app.log"
    log.write_bytes(b"ok\nold " + TOKEN + b"\nnew " + NEWER + b"\n")
    result = cli("-C", root, "--json", "audit-logs", "--file", log)
    canaries().assert_clean(result.stdout + result.stderr, "audit-logs")
    assert result.exit_code == 1, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert {(h["line"], h["secret"]) for h in doc["data"]["hits"]} == {
        (2, "api_token"),
        (3, "api_token"),
    }
    # the stack's sources too: a container that logged the pinned value
    engine.container("web").logs.append("booting with " + TOKEN.decode())
    result = cli("-C", root, "-p", "tdagent", "--json", "audit-logs")
    canaries().assert_clean(result.stdout + result.stderr, "audit-logs")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [(h["service"], h["source"]) for h in doc["data"]["hits"]] == [("web", "logs")]


def test_audit_logs_names_a_pinned_version_the_backend_lost(agent_project, cli, tmp_path) -> None:
    root, _, backend = agent_project
    (root / ".titan-deploy" / "backend-pins.json").write_text(
        json.dumps({"api_token": {"base": 1, "7": 9}})
    )
    log = tmp_path / "clean.log"
    log.write_text("nothing\n")
    result = cli("-C", root, "--json", "audit-logs", "--file", log)
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert [(f["code"], f["secret"]) for f in doc["findings"]] == [("A004", "api_token")]
    assert "version 9" in doc["findings"][0]["message"]
    backend.entries.clear()
    result = cli("-C", root, "audit-logs", "--file", log)
    assert result.exit_code == 2 and "nothing to search for" in result.stderr
