"""Helpers of the Swarm engine tests (tests/integration/test_swarm_*.py): the tool and the
docker CLI against one of the netns lab's engines (tests/netnsdocker.py), never the main one.
"""

from __future__ import annotations

import json
import secrets as pyrandom
import uuid

import pytest

from tests.integration.stackkit import Result, Stack
from tests.netnsdocker import NsEngine
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
