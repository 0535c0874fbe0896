"""A Swarm rotation reaches every task through the engine of the node it runs on (io/swarm.py
SwarmEngine, README "Several hosts"): the health waits, exec (guard scrape, probe, reload,
ALTER ROLE) and log proofs of ops/rotate see a worker's task, and a task on a node the tool cannot
reach raises (the step fails and rolls back), never a silent pass. Against a fake manager; the
real two-node swarm: tests/integration/test_swarm_rotation.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.fakes import FakeContainer
from tests.unit.ops.test_swarm_verify import LOCAL, NAME, REMOTE, FakeAPI, task
from titan_deploy.core.containers import ContainerInfo
from titan_deploy.core.manifest_model import AuthGuard, Reload
from titan_deploy.errors import EngineUnreachable
from titan_deploy.io.engine import ExecResult
from titan_deploy.io.swarm import NodeUnreachable, SwarmEngine
from titan_deploy.ops.rotate import guard as guard_io
from titan_deploy.ops.rotate import reload


class NodeEngine:
    """One node's engine: it knows only the containers running there."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.calls: list[tuple[str, str]] = []

    def _mine(self, container_id: str) -> None:
        assert container_id == f"c-{self.node}", f"{container_id} asked on {self.node}"

    def inspect(self, container_id: str) -> ContainerInfo:
        self._mine(container_id)
        return FakeContainer(NAME, self.node, id=container_id, health="healthy").info()

    def exec(self, container_id: str, argv: list[str], **_: object) -> ExecResult:
        self._mine(container_id)
        self.calls.append(("exec", container_id))
        body = b"# TYPE auth_failures counter\nauth_failures_total 0\n"
        return ExecResult(exit_code=0, stdout=body, stderr=b"")

    def logs(self, container_id: str, **_: object):
        self._mine(container_id)
        self.calls.append(("logs", container_id))
        return iter([f"proof from {self.node}\n".encode()])

    def read_text(self, container_id: str, path: str) -> str | None:
        self._mine(container_id)
        return f"{self.node}:{path}"

    def kill(self, container_id: str, signal: str) -> None:
        self._mine(container_id)
        self.calls.append((signal, container_id))


def swarm_engine(endpoints: dict[str, str] | None = None) -> SwarmEngine:
    api = FakeAPI([task(LOCAL), task(REMOTE)])
    engine = SwarmEngine(SimpleNamespace(api=api), (endpoints or {}).get)
    engine._call = lambda what, fn: fn()  # type: ignore[method-assign]
    engine._local = NodeEngine(LOCAL)  # type: ignore[assignment]
    engine.nodes.engines[LOCAL] = engine._local
    return engine


def test_every_task_on_every_node_is_read_through_its_nodes_engine():
    engine = swarm_engine()
    local, remote = engine._local, NodeEngine(REMOTE)
    engine.nodes.engines[REMOTE] = remote  # type: ignore[assignment]
    infos = engine.containers(NAME, "titan-brain")
    assert sorted(i.id for i in infos) == [f"c-{LOCAL}", f"c-{REMOTE}"]
    assert {i.service for i in infos} == {"titan-brain"}
    guard = AuthGuard(endpoints=(("titan-brain", "http://127.0.0.1:1/metrics"),))
    snap = guard_io.snapshot(engine, NAME, guard)  # the guard scrapes the worker's task too
    assert sorted(snap) == [f"c-{LOCAL}", f"c-{REMOTE}"]
    assert b"proof from node-remote" in b"".join(engine.logs(f"c-{REMOTE}", since=None))
    assert engine.read_text(f"c-{REMOTE}", "/etc/passwd") == f"{REMOTE}:/etc/passwd"
    assert ("exec", f"c-{REMOTE}") in remote.calls and ("exec", f"c-{LOCAL}") in local.calls


def test_a_task_on_an_unmapped_node_raises_not_skipped():
    engine = swarm_engine()
    with pytest.raises(NodeUnreachable, match=r"worker-1.*no endpoint"):
        engine.containers(NAME, "titan-brain")


def test_a_task_on_a_node_that_does_not_answer_raises(tmp_path):
    engine = swarm_engine({"worker-1": f"unix://{tmp_path}/none.sock"})
    guard = AuthGuard(endpoints=(("titan-brain", "http://127.0.0.1:1/metrics"),))
    with pytest.raises(NodeUnreachable, match=r"titan-brain: task .* worker-1.*does not answer"):
        guard_io.snapshot(engine, NAME, guard)


def test_a_node_whose_engine_stops_answering_raises_naming_it():
    engine = swarm_engine()
    remote = NodeEngine(REMOTE)
    engine.nodes.engines[REMOTE] = remote  # type: ignore[assignment]
    engine.containers(NAME, "titan-brain")

    def gone(*_: object, **__: object):
        raise EngineUnreachable("cannot exec in a container: the Docker engine is unreachable")

    remote.exec = gone  # type: ignore[method-assign]
    engine.exec(f"c-{LOCAL}", ["true"])  # the manager's task: still fine
    with pytest.raises(NodeUnreachable, match=r"brain: task .* on node worker-1 .*not answer"):
        engine.exec(f"c-{REMOTE}", ["true"])


def test_a_reload_signal_reaches_every_task_through_its_nodes_engine():
    """`reload: {signal: ...}` is sent by the engine that runs the task (the manager's client
    cannot signal a worker's container), as exec is; a node that stopped answering raises."""
    engine = swarm_engine()
    local, remote = engine._local, NodeEngine(REMOTE)
    engine.nodes.engines[REMOTE] = remote  # type: ignore[assignment]
    note = reload.execute(engine, NAME, "titan-brain", Reload("signal", "SIGHUP"))
    assert ("SIGHUP", f"c-{REMOTE}") in remote.calls and ("SIGHUP", f"c-{LOCAL}") in local.calls
    assert "signal SIGHUP" in note

    def gone(*_: object, **__: object):
        raise EngineUnreachable("cannot signal a container: the Docker engine is unreachable")

    remote.kill = gone  # type: ignore[method-assign]
    with pytest.raises(NodeUnreachable, match=r"brain: task .* on node worker-1 .*not answer"):
        reload.execute(engine, NAME, "titan-brain", Reload("signal", "SIGHUP"))
