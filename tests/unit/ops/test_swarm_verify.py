"""`--swarm verify` (ops/swarm_verify.py) against a fake manager: a task on a node the tool
cannot reach is a finding that fails its rows, never a silent pass (README "Several hosts").
The real engine: tests/integration/test_swarm_engine.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fakes import FakeEngine
from titan_deploy.errors import RuntimeFailure
from titan_deploy.ops.swarm_verify import swarm_verify_report
from titan_deploy.project import Project

NAME = "tdfake"
LOCAL, REMOTE = "node-local", "node-remote"


class FakeAPI:
    def __init__(self, tasks: list[dict], manager: bool = True) -> None:
        self._tasks = tasks
        self.manager = manager

    def info(self) -> dict:
        state = "active" if self.manager else "inactive"
        return {
            "Swarm": {"LocalNodeState": state, "ControlAvailable": self.manager, "NodeID": LOCAL}
        }

    def nodes(self) -> list[dict]:
        return [
            {"ID": LOCAL, "Description": {"Hostname": "manager-1"}},
            {"ID": REMOTE, "Description": {"Hostname": "worker-1"}},
        ]

    def services(self, filters=None) -> list[dict]:
        return [
            {
                "ID": "svc-brain",
                "Spec": {"Name": f"{NAME}_titan-brain", "Mode": {"Replicated": {"Replicas": 1}}},
            }
        ]

    def tasks(self, filters=None) -> list[dict]:
        return [t for t in self._tasks if t["ServiceID"] == filters["service"]]


class FakeSwarmEngine(FakeEngine):
    def __init__(self, api: FakeAPI) -> None:
        super().__init__()
        self.client = SimpleNamespace(api=api)

    def _call(self, what, fn):
        return fn()


def task(node: str, state: str = "running") -> dict:
    return {
        "ID": f"task-on-{node}",
        "ServiceID": "svc-brain",
        "NodeID": node,
        "Status": {"State": state, "ContainerStatus": {"ContainerID": f"c-{node}"}},
        "Spec": {"ContainerSpec": {"Secrets": []}},
    }


def project_with(ready_project: Path, nodes: str = "") -> Project:
    manifest = ready_project / "secrets.manifest.yml"
    if nodes:
        manifest.write_text(manifest.read_text() + f"deploy:\n  nodes: {{{nodes}}}\n")
    return Project(project_dir=ready_project, project_name=NAME)


def brain(report) -> list[dict]:
    return [r for r in report.rows if r["service"] == "titan-brain"]


def test_a_task_on_a_node_without_an_endpoint_fails_its_rows(ready_project: Path):
    project = project_with(ready_project)
    report = swarm_verify_report(project, FakeSwarmEngine(FakeAPI([task(REMOTE)])))
    k003 = [f for f in report.findings if f.code == "K003"]
    assert [f.service for f in k003] == ["titan-brain"]
    assert "worker-1" in k003[0].message and "no endpoint" in k003[0].message
    assert brain(report) and all(r["problem"] and not r["running"] for r in brain(report))
    assert not report.ok


def test_a_node_whose_engine_does_not_answer_fails_its_rows(ready_project: Path, tmp_path: Path):
    project = project_with(ready_project, f"worker-1: 'unix://{tmp_path}/none.sock'")
    report = swarm_verify_report(project, FakeSwarmEngine(FakeAPI([task(REMOTE)])))
    [k003] = [f for f in report.findings if f.code == "K003"]
    assert "does not answer" in k003.message
    assert all(r["problem"] for r in brain(report))


def test_a_task_that_is_not_running_is_a_finding(ready_project: Path):
    project = project_with(ready_project)
    report = swarm_verify_report(project, FakeSwarmEngine(FakeAPI([task(LOCAL, "starting")])))
    k004 = [f for f in report.findings if f.code == "K004"]
    assert len(k004) == 2  # the task starting, and 0 of 1 replicas running
    assert all(r["problem"] for r in brain(report))


def test_not_a_manager_is_a_runtime_failure(ready_project: Path):
    project = project_with(ready_project)
    with pytest.raises(RuntimeFailure, match="not a swarm manager"):
        swarm_verify_report(project, FakeSwarmEngine(FakeAPI([], manager=False)))


class ArchiveNode(FakeSwarmEngine):
    """A manager whose containers are read through the archive API only (a remote endpoint,
    not root): the FakeEngine's view. Inspect answers from its containers."""

    def inspect(self, container_id: str):
        return self._by_id(container_id).info()


def swarm_task(project: Project, container, wrong: str = "") -> dict:
    """The task of `container` on LOCAL, its spec mounting each of titan-brain's secrets as
    the object its host file's value names (`wrong`: that source's object from another value)."""
    from titan_deploy.core.swarm import object_name
    from titan_deploy.ops.render import current_plan

    [svc] = [s for s in current_plan(project).services if s.service == "titan-brain"]
    files = dict(current_plan(project).files)
    secrets = []
    for mount in svc.mounts:
        data = (project.project_dir / files[mount.source]).read_bytes()
        data = b"another value" if mount.source == wrong else data
        name = object_name(NAME, mount.source, data)
        file = {"Name": mount.target, "UID": "0", "GID": "0", "Mode": 0o444}
        secrets.append({"SecretID": f"id-{name}", "SecretName": name, "File": file})
    return {
        **task(LOCAL),
        "Status": {"State": "running", "ContainerStatus": {"ContainerID": container.id}},
        "Spec": {"ContainerSpec": {"Secrets": secrets}},
    }


def test_a_swarm_secret_read_through_the_archive_is_proved_by_the_object_it_mounts(
    ready_project: Path,
):
    """The archive API does not see a Swarm secret: it shows the image's empty placeholder file
    (as a real engine does: size 0, mode 0755). Each pair is then proved by the object the task
    mounts there, named by its content: the host file's value gives that name (method
    `swarm-object`); an object made from another value fails its pair (V002), the others pass."""
    from tests.fakes import FakeContainer, FakeFile
    from titan_deploy.ops.render import current_plan

    project = project_with(ready_project)
    [svc] = [s for s in current_plan(project).services if s.service == "titan-brain"]
    placeholder = {m.container_path: FakeFile(b"", mode=0o755) for m in svc.mounts}
    env = {e: m.container_path for m in svc.mounts for e in m.envs}
    container = FakeContainer(NAME, "titan-brain", env=env, files=placeholder)
    engine = ArchiveNode(FakeAPI([]))
    engine.add(container)
    engine.client.api._tasks = [swarm_task(project, container)]
    report = swarm_verify_report(project, engine)
    assert brain(report) and all(not r["problem"] for r in brain(report)), brain(report)
    assert {r["method"].split("+")[0] for r in brain(report)} == {"swarm-object"}

    wrong = svc.mounts[0]
    engine.client.api._tasks = [swarm_task(project, container, wrong=wrong.source)]
    report = swarm_verify_report(project, engine)
    bad = [r for r in brain(report) if r["problem"]]
    assert [r["secret"] for r in bad] == [wrong.secret] and not bad[0]["content"], bad
    assert "differs from the host file" in bad[0]["problem"]
