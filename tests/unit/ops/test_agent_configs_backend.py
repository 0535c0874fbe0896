"""Config files with a secrets manager (ops/agent_configs.py, README "Secrets managers"): `push`
writes each config, rendered from the values pushed, as a derived entry of its own; `check-secrets
--backend` checks it; the agent path renders it like a secret, `up` pins it (writing it first
when stale), `verify` compares each container's file with the pinned version; a rotation renders
the config's new version from the inputs' pinned KV versions. Against an in-memory backend and
the fake engine; the real server and agent: tests/integration/test_backend_agent_audit.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.canary import Canaries
from tests.fakes import FakeCompose, FakeEngine
from tests.projectkit import REDIS_TEMPLATE, config_project
from tests.unit.ops.test_backend_verify import VersionedBackend
from titan_deploy.core.agent import rendered_files
from titan_deploy.core.findings import Report
from titan_deploy.ops import agent_stack
from titan_deploy.ops.agent_configs import render_pinned
from titan_deploy.ops.check_backend import run_check_backend
from titan_deploy.ops.push import run_push
from titan_deploy.ops.render import run_render
from titan_deploy.project import Project

AGENT = (
    "backend: {type: openbao, address: 'http://bao:8200', "
    "auth: {role_id_file: r, secret_id_file: s}, agent: {}}\n"
)
NEW = b"Rp-a-newer-central-password-0123456789"


def rendered(value: bytes) -> bytes:
    return f"appendonly yes\nrequirepass {json.dumps(value.decode())}\n".encode()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Project, bytes, VersionedBackend]:
    project, value = config_project(tmp_path / "p", head=AGENT)
    assert (tmp_path / "p" / "templates" / "redis.conf.j2").read_text() == REDIS_TEMPLATE
    project = Project(project_dir=project.project_dir, project_name="tdcfg")
    return project, value, VersionedBackend({})


def opener(backend: VersionedBackend):
    return lambda *_: backend


def by_secret(report: Report, key: str = "action") -> dict[str, str]:
    return {row["secret"]: row[key] for row in report.rows}


def test_push_writes_the_derived_entry_of_each_config(setup) -> None:
    project, value, backend = setup
    report = run_push(project, dry_run=True, opener=opener(backend))
    assert by_secret(report) == {"redis_password": "create", "redis_conf": "create"}
    assert backend.entries == {}
    report = run_push(project, opener=opener(backend))
    assert report.ok and by_secret(report) == {"redis_password": "create", "redis_conf": "create"}
    assert backend.entries["redis_conf"] == [rendered(value)]
    assert report.data["versions"] == {"redis_password": 1, "redis_conf": 1}
    report = run_push(project, opener=opener(backend))
    assert set(by_secret(report).values()) == {"unchanged"}  # no new version
    # a new local value: a new version of the secret and of its config
    (project.secrets_dir / "redis_password").write_bytes(NEW)
    report = run_push(project, opener=opener(backend))
    assert by_secret(report) == {"redis_password": "update", "redis_conf": "update"}
    assert backend.entries["redis_conf"][-1] == rendered(NEW)
    Canaries({"v": value, "n": NEW}).assert_clean(report.summary + json.dumps(report.rows), "push")


def test_check_backend_checks_the_derived_entry(setup, tmp_path: Path) -> None:
    project, value, backend = setup
    backend.entries["redis_password"] = [value]
    report = run_check_backend(project, opener=opener(backend))
    assert by_secret(report, "status")["redis_conf"] == "missing"
    assert [(f.code, f.severity) for f in report.findings] == [("B005", "warning")]
    run_push(project, opener=opener(backend))
    report = run_check_backend(project, opener=opener(backend))
    assert report.ok and by_secret(report, "status") == {"redis_password": "ok", "redis_conf": "ok"}
    backend.entries["redis_password"].append(NEW)  # a central write: the config is stale
    report = run_check_backend(project, opener=opener(backend))
    assert by_secret(report, "status")["redis_conf"] == "stale"
    (project.project_dir / "templates" / "redis.conf.j2").write_text("{{ redis_password | x }}\n")
    report = run_check_backend(project, opener=opener(backend))
    assert [f.code for f in report.errors] == ["S028"]


def test_the_agent_renders_the_config_and_up_pins_it_fresh(setup, monkeypatch) -> None:
    project, value, backend = setup
    assert [(f.service, f.secret, f.name) for f in rendered_files(project.manifest)] == [
        ("client", "redis_password", "redis_password"),
        ("redis", "redis_conf", "redis.conf"),
    ]
    run_push(project, opener=opener(backend))
    backend.entries["redis_password"].append(NEW)  # written centrally, config not re-rendered
    pinned = agent_stack.pin_current(project, backend)
    assert pinned == {"redis_password": "2", "redis_conf": "2"}
    assert backend.entries["redis_conf"][-1] == rendered(NEW)
    hcl = (project.project_dir / "bao-agent.hcl").exists()
    assert not hcl  # pin_current pins only; render-agent writes the files
    from titan_deploy.ops.render_agent import run_render_agent

    assert run_render_agent(project).ok
    text = (project.project_dir / "bao-agent.hcl").read_text()
    assert "secret/data/titan/redis_conf?version=2" in text

    # verify: the container's redis.conf against the pinned derived entry, by hash
    engine = FakeEngine()
    run_render(project)
    (project.secrets_dir / "redis_password").write_bytes(NEW)
    run_render(project)  # the fake stack holds the config rendered from NEW
    FakeCompose(engine, project).up(60)
    shutil.rmtree(project.secrets_dir)
    report = agent_stack.agent_verify_report(project, engine, backend)
    assert report.ok, [f.message for f in report.findings]
    assert report.data["kv_versions"]["redis_conf"] == "2"
    engine.container("redis").files["/run/secrets/redis.conf"].content = rendered(value)
    report = agent_stack.agent_verify_report(project, engine, backend)
    failed = {(r["service"], r["secret"]) for r in report.rows if r["problem"]}
    assert failed == {("redis", "redis.conf")}  # the row names the file


def test_a_rotation_renders_the_config_from_the_inputs_pinned_versions(setup) -> None:
    project, value, backend = setup
    run_push(project, opener=opener(backend))
    backend.entries["redis_password"].append(NEW)
    spec = project.manifest.secrets["redis_conf"]
    assert render_pinned(project, backend, spec, {"redis_password": 1}) == rendered(value)
    assert render_pinned(project, backend, spec, {"redis_password": 2}) == rendered(NEW)
    assert render_pinned(project, backend, spec, {}) == rendered(NEW)  # latest


def test_audit_logs_searches_the_values_inside_the_config_entries(
    setup, monkeypatch, tmp_path: Path
) -> None:
    """A config version still pinned may hold an input value no input pin holds any more (the
    input moved on): audit-logs finds that value too, read from the derived entry."""
    from titan_deploy.ops.agent_audit import run_agent_audit

    project, value, backend = setup
    run_push(project, opener=opener(backend))
    backend.entries["redis_password"] = [NEW]  # only the new value is an input version now
    state = project.project_dir / ".titan-deploy"
    state.mkdir(exist_ok=True)
    pins = {"redis_password": {"base": 1}, "redis_conf": {"base": 1}}
    (state / "backend-pins.json").write_text(json.dumps(pins))
    shutil.rmtree(project.secrets_dir)
    monkeypatch.setattr(agent_stack, "connect", lambda _project: backend)
    log = tmp_path / "app.log"
    log.write_bytes(b"auth with " + value + b"\n")
    report = run_agent_audit(project, None, files=[log])  # type: ignore[arg-type]
    assert [(f.code, f.secret) for f in report.errors] == [("A001", "redis_password")]


def test_a_rotation_step_writes_the_configs_new_version_from_the_pinned_input(setup) -> None:
    """`WriteVersion(config, N, "render")` on the agent path (ops/rotate/agent_effects.py): the
    config rendered from the input's new version as pinned (not its latest, not a local file),
    written as a new version of the derived entry and pinned as the rotation's version N."""
    from titan_deploy.core.rotation import Journal, WriteVersion
    from titan_deploy.core.rotation.journal import Active
    from titan_deploy.io import backendpins
    from titan_deploy.ops.rotate.agent_effects import AgentEffects

    project, value, backend = setup
    run_push(project, opener=opener(backend))
    backend.entries["redis_password"] += [NEW, b"Rp-a-later-write-nobody-pinned-0123456"]
    backendpins.save(project, {"redis_password": {"base": 1, "2": 2}, "redis_conf": {"base": 1}})
    shutil.rmtree(project.secrets_dir)
    effects = AgentEffects(project, compose_for=lambda *_: None)  # type: ignore[arg-type]
    effects.__dict__["backend"] = backend
    active = Active(
        id="r1",
        procedure="secret",
        secrets=("redis_password",),
        steps=(),
        initial={},
        started_at="2026-11-30T00:00:00Z",
        new_versions={"redis_password": 2, "redis_conf": 2},
    )
    note = effects.write_version(WriteVersion("redis_conf", 2, "render"), Journal(active=active))
    assert "redis_conf" in note and "version 2" in note
    assert backend.entries["redis_conf"] == [rendered(value), rendered(NEW)]
    assert backendpins.load(project)["redis_conf"] == {"base": 1, "2": 2}
