"""Helpers of the Swarm engine tests (tests/integration/test_swarm_*.py): the tool and the
docker CLI against one of the netns lab's engines (tests/netnsdocker.py), never the main one.
"""

from __future__ import annotations

import contextlib
import json
import secrets as pyrandom
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.stackkit import Result, Stack
from tests.netnsdocker import NsEngine, swarm_join, swarm_remove
from tests.poll import wait_until

OWNER_LABELS = ("org.titan-deploy.project", "org.titan-deploy.secret")


def td(s: Stack, node: NsEngine, *args: str, timeout: int = 300) -> Result:
    """The tool with DOCKER_HOST naming `node` (the swarm manager it deploys through)."""
    return s.td(*args, env={"DOCKER_HOST": node.host}, timeout=timeout)


def td_json(s: Stack, node: NsEngine, *args: str) -> tuple[int, dict]:
    """`--json --swarm ARGS` on `node`: (exit code, the report)."""
    result = td(s, node, "--json", "--swarm", *args)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (rc {result.returncode}):\n{result.output}", pytrace=False)


def our_secrets(node: NsEngine, project: str) -> dict[str, dict[str, str]]:
    """name -> labels of the secret objects the tool made for `project` (both labels)."""
    listed = node.docker(
        "secret", "ls", "--filter", f"label={OWNER_LABELS[0]}={project}", "-q"
    ).stdout.split()
    out = {}
    for sid in listed:
        spec = json.loads(node.docker("secret", "inspect", sid).stdout)[0]["Spec"]
        labels = spec.get("Labels") or {}
        if OWNER_LABELS[1] in labels:
            out[spec["Name"]] = labels
    return out


def stack_services(node: NsEngine, project: str) -> list[str]:
    listed = node.docker(
        "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={project}"
    )
    return listed.stdout.split()


def service_specs(node: NsEngine, project: str) -> str:
    return node.docker("service", "inspect", *stack_services(node, project)).stdout


def foreign_secret(node: NsEngine, labels: dict[str, str]) -> str:
    """A secret object the tool did not create (a random value on stdin)."""
    name = f"tdtest-foreign-{uuid.uuid4().hex[:8]}"
    argv = ["secret", "create"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    made = node.docker(*argv, name, "-", stdin=pyrandom.token_hex(16).encode())
    assert made.returncode == 0, made.stderr
    return name


def remove_stack(node: NsEngine, project: str) -> None:
    """The stack's services, then the tool's objects of `project` (test cleanup)."""
    node.docker("stack", "rm", project)
    wait_until(lambda: not stack_services(node, project), f"stack {project} removed", timeout=120)
    for name in our_secrets(node, project):
        node.docker("secret", "rm", name)


def task_containers(node: NsEngine, project: str, service: str) -> list[str]:
    """Ids of the running containers of a stack service's tasks on `node`."""
    return node.docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={project}_{service}"
    ).stdout.split()


@contextlib.contextmanager
def joined(manager: NsEngine, worker: NsEngine) -> Iterator[str]:
    """`worker` joined to `manager`'s swarm and Ready (its node id), then leaving it and
    forgotten by the manager (also after a failure)."""
    node_id = swarm_join(manager, worker)

    def ready() -> bool:
        state = manager.docker("node", "inspect", node_id, "--format", "{{.Status.State}}")
        return state.stdout.strip() == "ready"

    try:
        wait_until(ready, f"worker {worker.name} ready in the swarm", timeout=60, interval=0.5)
        yield node_id
    finally:
        swarm_remove(manager, worker, node_id)


def map_nodes(root: Path, nodes: dict[str, str]) -> None:
    """The manifest's deploy.nodes (hostname -> engine endpoint); {} removes the section."""
    path = root / "secrets.manifest.yml"
    doc = yaml.safe_load(path.read_text())
    doc.pop("deploy", None)
    if nodes:
        doc["deploy"] = {"nodes": nodes}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
