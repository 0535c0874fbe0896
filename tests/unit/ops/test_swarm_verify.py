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
