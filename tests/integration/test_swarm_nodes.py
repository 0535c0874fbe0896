"""Two real swarm nodes (issue 13 item 6, README "Several hosts"): the netns lab's manager
dockerd (namespace a) and a worker dockerd (namespace b) joined over the veth pair between them
(tests/netnsdocker.py); the main engine is never touched. The manifest's `deploy.nodes` maps the
worker's hostname to its engine's unix socket; a placement constraint puts the reader on the
worker, the signer on the manager. `--swarm verify` must read the reader's task through the
worker's engine, and report the worker as a finding (K003) the moment that engine cannot be
reached or is not mapped: never a silent pass. `down` removes the stack and the tool's objects
only."""

from __future__ import annotations

import json

import pytest

from tests import canary
from tests.integration.stackkit import Stack, assert_no_canary, make_stack
from tests.integration.swarmkit import (
    foreign_secret,
    joined,
    map_nodes,
    our_secrets,
    remove_stack,
    stack_services,
    task_containers,
    td_json,
)
from tests.poll import wait_until

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def two_nodes(netns_lab, swarm_manager, busybox_image):
    """(manager, worker): the worker joined to the manager's swarm for this module (the busybox
    image loaded on it), then leaving it and forgotten by the manager."""
    worker = netns_lab.engine("b")
    netns_lab.load(worker, busybox_image)
    with joined(swarm_manager, worker):
        yield swarm_manager, worker


def place(s: Stack, manager_name: str, worker_name: str) -> None:
    """The signer on the manager, the reader on the worker (placement constraints)."""

    def constrain(doc: dict) -> None:
        for service, host in (("signer", manager_name), ("reader", worker_name)):
            doc["services"][service]["deploy"] = {
                "placement": {"constraints": [f"node.hostname == {host}"]}
            }

    s.edit_compose(constrain)


def test_verify_reads_the_workers_task_through_the_workers_engine(
    two_nodes, tmp_path, busybox_image
):
    manager, worker = two_nodes
    s = make_stack(tmp_path, busybox_image)
    place(s, manager.name, worker.name)
    map_nodes(s.root, {worker.name: worker.host})
    foreign = [
        foreign_secret(manager, {}),
        foreign_secret(manager, {"org.titan-deploy.project": s.name}),
    ]
    try:
        code, up = td_json(s, manager, "up", "--timeout", "180")
        assert code == 0, up
        # the reader's task runs on the worker: its container exists there, not on the manager
        assert task_containers(worker, s.name, "reader") and not task_containers(
            manager, s.name, "reader"
        )
        assert task_containers(manager, s.name, "signer")

        code, verify = td_json(s, manager, "verify")
        assert code == 0, verify
        assert verify["data"]["nodes"] == sorted([manager.name, worker.name])
        assert verify["data"]["tasks"] == 2 and verify["data"]["verified"] == 3
        reader = [r for r in verify["rows"] if r["service"] == "reader"]
        assert reader and all(r["containers"] == 1 and not r["problem"] for r in reader)
        code, status = td_json(s, manager, "status")
        assert code == 0, status
        nodes = {r["service"]: r["nodes"] for r in status["rows"]}
        assert nodes == {"reader": worker.name, "signer": manager.name}

        # the worker's engine does not answer (its socket moved away; the node stays Ready)
        hidden = worker.socket.with_name("docker.sock.hidden")
        worker.socket.rename(hidden)
        try:
            code, cut = td_json(s, manager, "verify")
        finally:
            hidden.rename(worker.socket)
        assert code == 1, cut
        k003 = [f for f in cut["findings"] if f["code"] == "K003"]
        assert k003 and all(f["service"] == "reader" for f in k003)
        assert any(worker.name in f["message"] and "does not answer" in f["message"] for f in k003)
        reader = [r for r in cut["rows"] if r["service"] == "reader"]
        assert reader and all(r["problem"] for r in reader)
        signer = [r for r in cut["rows"] if r["service"] == "signer"]
        assert signer and all(not r["problem"] for r in signer)

        # a worker the manifest does not map is a finding too
        map_nodes(s.root, {})
        code, unmapped = td_json(s, manager, "verify")
        assert code == 1, unmapped
        assert any(
            f["code"] == "K003" and "no endpoint" in f["message"] for f in unmapped["findings"]
        )
        map_nodes(s.root, {worker.name: worker.host})
        code, again = td_json(s, manager, "verify")
        assert code == 0, again

        # down: the stack and the tool's objects, on every node; nothing else
        code, down = td_json(s, manager, "down")
        assert code == 0, down
        assert our_secrets(manager, s.name) == {}
        assert stack_services(manager, s.name) == []
        for name in foreign:
            assert manager.docker("secret", "inspect", name).returncode == 0
        wait_until(
            lambda: not task_containers(worker, s.name, "reader"),
            "the reader's container gone from the worker",
            timeout=60,
        )
    finally:
        remove_stack(manager, s.name)
        for name in foreign:
            manager.docker("secret", "rm", name)
    assert_no_canary(s, json.dumps(manager.docker("service", "ls").stdout))
    canary.assert_no_canary(s.values, s.outputs)
