"""`rotate exchange` on the agent path (ops/rotate/agent_effects.py, README "Secrets managers"),
at unit level: the real procedure, runner, journal and AgentEffects, against an in-memory
backend, the fake engine (tests/fakes.py) and a fake `compose up` that plays the OpenBao agent
(each file of the agent's plan rendered from its pinned KV version) and recreates consumers from
the agent's volumes. The new pair becomes new KV versions, the consumer is recreated on them and
must log its proof; without the proof every consumer goes back to the old versions (the pins
too). The real engine: tests/integration/test_backend_agent_demo.py (`rotate exchange binance`
through the backend, completed; the rollback only here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.canary import Canaries
from tests.fakes import FakeContainer, FakeEngine, FakeFile
from tests.projectkit import small_project
from tests.unit.ops.test_backend_verify import VersionedBackend
from titan_deploy.core.agent import DEFAULT_SERVICE, OUT, kv_version, rendered_files
from titan_deploy.io import backendpins
from titan_deploy.ops.rotate import agent_effects
from titan_deploy.ops.rotate.agent_effects import AgentEffects
from titan_deploy.project import Project

MANIFEST = r"""version: 1
compose_files: [compose.yml]
secrets:
  ex_key:
    kind: api-key
    generate: false
    rotation: restart
    group: ex
    verify_log: 'Exchange connected \(ex\)'
    consumers: {trader: EX_KEY_FILE}
  ex_secret:
    kind: api-key
    generate: false
    rotation: restart
    group: ex
    verify_log: 'Exchange connected \(ex\)'
    consumers: {trader: EX_SECRET_FILE}
backend: {type: openbao, address: 'http://bao:8200', auth: {role_id_file: r, secret_id_file: s},
  agent: {}}
"""
COMPOSE = "services: {trader: {image: x}}\n"
OLD = {"ex_key": b"OLDkeyVALUEabcdefghij123456", "ex_secret": b"OLDsecretVALUEabcdefghij123456"}
NEW = {"ex_key": b"NEWkeyVALUEabcdefghij654321", "ex_secret": b"NEWsecretVALUEabcdefghij654321"}


class AgentPlay:
    """`compose up --no-deps --force-recreate SERVICES` of the agent path, in memory: the agent
    renders every file of its plan from the pinned KV version; a consumer is recreated with the
    files of its volume and logs the proof when the exchange `accepts` its key."""

    def __init__(self, project: Project, engine: FakeEngine, backend: VersionedBackend) -> None:
        self.project, self.engine, self.backend = project, engine, backend
        self.accepts: set[bytes] = {OLD["ex_key"], NEW["ex_key"]}
        self.runs: list[list[str]] = []

    def run(self, argv: list[str], what: str = "", timeout: float = 0) -> None:
        from titan_deploy.ops.render_agent import agent_plan

        services = [a for a in argv if not a.startswith("-")]
        self.runs.append(services)
        plan = agent_plan(self.project)
        name = self.project.name
        if DEFAULT_SERVICE in services:
            pins = backendpins.load(self.project)
            files = {}
            for item in rendered_files(self.project.manifest, plan):
                pinned = kv_version(pins, item.secret, item.version)
                stored = self.backend.read_version(item.secret, str(pinned) if pinned else "")
                assert stored is not None
                files[item.agent_path] = FakeFile(stored.value)
            self._replace(DEFAULT_SERVICE, FakeContainer(name, DEFAULT_SERVICE, files=files))
        agent = self.engine.container(DEFAULT_SERVICE)
        for svc in plan.services:
            if svc.service not in services:
                continue
            files = {
                m.container_path: agent.files[f"{OUT}/{svc.service}/{m.container_path[13:]}"]
                for m in svc.mounts
            }
            env = {e: m.container_path for m in svc.mounts for e in m.envs} | dict(svc.env)
            key = files["/run/secrets/ex_key"].content
            logs = ["Exchange connected (ex)"] if key in self.accepts else ["auth failed"]
            self._replace(svc.service, FakeContainer(name, svc.service, env, files, logs=logs))

    def _replace(self, service: str, container: FakeContainer) -> None:
        self.engine.items = [c for c in self.engine.items if c.service != service]
        self.engine.add(container)


class Command:
    def up_no_deps(self, timeout, services, stop_timeout=None, force=False) -> list[str]:
        return ["up", "--no-deps", *services]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch):
    project = small_project(tmp_path / "p", MANIFEST, {}, COMPOSE)
    project = Project(project_dir=project.project_dir, project_name="tdex")
    shutil.rmtree(project.secrets_dir)  # the agent path: no value on this host
    backend = VersionedBackend({k: [v] for k, v in OLD.items()})
    backendpins.save(project, {k: {"base": 1} for k in OLD})
    engine = FakeEngine()
    play = AgentPlay(project, engine, backend)
    monkeypatch.setattr(agent_effects.composerun, "run", play.run)
    play.run(["up", DEFAULT_SERVICE, "trader"])  # deployed: the agent and the consumer on v1

    def make_effects(project_, chosen, progress, inputs=None):
        effects = AgentEffects(
            project_,
            timeout=5,
            log_timeout=2,
            inputs=inputs,
            engine=engine,
            progress=progress,
            compose_for=lambda *_: None,  # type: ignore[arg-type,return-value]
        )
        effects.__dict__.update(backend=backend, command=Command())
        return effects

    from titan_deploy.ops.rotate import command

    monkeypatch.setattr(command, "make_effects", make_effects)
    return project, engine, backend, play


def held(engine: FakeEngine) -> dict[str, bytes]:
    files = engine.container("trader").files
    return {name: files[f"/run/secrets/{name}"].content for name in ("ex_key", "ex_secret")}


def test_rotate_exchange_writes_kv_versions_and_recreates_the_consumer(stack, tmp_path) -> None:
    from titan_deploy.ops.rotate.exchange import run_exchange

    project, engine, backend, play = stack
    report = run_exchange(project, "ex", material=dict(NEW))
    assert report.ok, [f.message for f in report.findings]
    assert {k: v[-1] for k, v in backend.entries.items()} == NEW  # KV version 2 of each
    assert held(engine) == NEW
    pins = backendpins.load(project)
    assert {k: v["base"] for k, v in pins.items()} == {"ex_key": 2, "ex_secret": 2}
    # the consumer's rotation version 1 and the base: both the new KV version (2)
    assert pins == {"ex_key": {"1": 2, "base": 2}, "ex_secret": {"1": 2, "base": 2}}
    assert play.runs[1:] == [["up", "secrets-agent"], ["up", "trader"]]  # agent, then consumer
    text = json.dumps(report.to_dict() if hasattr(report, "to_dict") else report.rows)
    Canaries({**OLD, **NEW}).assert_clean(text + report.summary, "report")


def test_without_the_proof_the_consumer_goes_back_to_the_old_versions(stack) -> None:
    from titan_deploy.ops.rotate.exchange import run_exchange

    project, engine, backend, play = stack
    play.accepts = {OLD["ex_key"]}  # the exchange rejects the new key
    report = run_exchange(project, "ex", material=dict(NEW))
    assert not report.ok
    assert "NOT accepted" in report.summary
    assert held(engine) == OLD
    pins = backendpins.load(project)
    assert {k: v["base"] for k, v in pins.items()} == {"ex_key": 1, "ex_secret": 1}
    assert all(len(v) == 2 for v in backend.entries.values())  # v2 stays in the KV history
    Canaries({**OLD, **NEW}).assert_clean(report.summary, "summary")


def test_new_material_is_checked_against_the_backends_values(stack, monkeypatch) -> None:
    """With no secrets dir, the value in use and another secret's value are the backend's: a
    new key equal to the one the consumer holds, or to the pair's other secret, is refused (exit
    2) before anything is written, naming secrets only."""
    from titan_deploy.errors import UsageError
    from titan_deploy.ops import agent_stack
    from titan_deploy.ops.rotate.exchange import validate_material

    project, _, backend, _ = stack
    monkeypatch.setattr(agent_stack, "connect", lambda _project: backend)
    with pytest.raises(UsageError, match="the new ex_key is the value already in use") as exc:
        validate_material(project, "ex", [OLD["ex_key"], NEW["ex_secret"]])
    with pytest.raises(UsageError, match="the new ex_key is the value of ex_secret") as other:
        validate_material(project, "ex", [OLD["ex_secret"], NEW["ex_secret"]])
    Canaries({**OLD, **NEW}).assert_clean(str(exc.value) + str(other.value), "refusals")
    assert validate_material(project, "ex", [NEW["ex_key"], NEW["ex_secret"]]) == NEW
    assert {k: len(v) for k, v in backend.entries.items()} == {"ex_key": 1, "ex_secret": 1}
