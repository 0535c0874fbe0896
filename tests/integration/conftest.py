"""Integration fixtures: a REAL Docker engine and REAL Compose v2 (ARCHITECTURE.md "Tests").

Without a reachable engine these tests are skipped on a developer machine; with CI or
TITAN_REQUIRE_DOCKER=1 set (as `.ci/run` and `make test` do) a missing engine FAILS the run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.backendkit import AWS_ENV, Server, moto_server, openbao_server
from tests.conftest import close_after_last_user
from tests.integration.images import ensure_busybox_image
from tests.integration.stackkit import Stack, make_stack


def _engine_problem() -> str | None:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker CLI unusable: {exc}"
    if info.returncode != 0:
        return "no Docker engine answers (run `make engine`)"
    version = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True
    )
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2"):
        return "Docker Compose v2 is missing (run `make engine`)"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = _engine_problem()
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("TITAN_REQUIRE_DOCKER"):
        pytest.fail(f"integration tests need a real engine: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def busybox_image(docker_engine) -> str:
    return ensure_busybox_image()


@pytest.fixture
def stack(tmp_path, busybox_image):
    created: list[Stack] = []

    def factory(**kwargs) -> Stack:
        s = make_stack(tmp_path, busybox_image, **kwargs)
        created.append(s)
        return s

    yield factory
    for s in created:
        s.down()


@pytest.fixture(scope="session")
def demo_images(docker_engine) -> None:
    from tests.integration.demo import build_demo_images

    build_demo_images()


@pytest.fixture
def demo(demo_stack):
    """The session's demo stack (`demo_stack`), every container healthy as `up` left it."""
    from tests.integration.demo import wait_healthy

    wait_healthy(demo_stack)
    return demo_stack


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory, demo_images, busybox_image):
    """ONE running demo stack for every test that asks for `demo` (up with the real prod file
    + overlay): a demo `up` is the slowest setup of the suite. A module that changes the stack
    puts it back (test_audit.py's `demo`), so each module finds it as `up` left it."""
    from tests.integration.demo import make_demo

    stack = make_demo(tmp_path_factory.mktemp("demo"))
    up = stack.td("up", "--timeout", "240")
    if up.returncode != 0:
        logs = stack.compose("logs", "--no-color", "--tail", "30").stdout
        stack.down()
        pytest.fail(f"demo up failed:\n{up.output}\n{logs[-4000:]}", pytrace=False)
    close = close_after_last_user("demo_stack", stack.down)
    yield stack
    close()


@pytest.fixture(scope="session")
def rotation_demo(tmp_path_factory, demo_images):
    """ONE demo stack for every rotation test of the session (tests/integration/test_rotation*):
    a random project name, its own secrets and registry, healthchecks every 1 s (rotation_kit
    FAST_FILE); each test leaves it consistent (no rotation in flight). Cleanup: `down
    --volumes` of that project only."""
    from tests.integration.demo import make_demo
    from tests.integration.rotation_kit import make_rotation_stack

    stack = make_rotation_stack(make_demo(tmp_path_factory.mktemp("rotation")))
    up = stack.td("up", "--timeout", "240")
    if up.returncode != 0:
        logs = stack.compose("logs", "--no-color", "--tail", "30").stdout
        stack.down()
        pytest.fail(f"demo up failed:\n{up.output}\n{logs[-4000:]}", pytrace=False)
    close = close_after_last_user("rotation_demo", stack.down)
    yield stack
    close()


@pytest.fixture(scope="session")
def netns_lab(docker_engine):
    """Two network namespaces joined by a veth pair, a dockerd in each on demand
    (tests/netnsdocker.py): the Swarm tests' engines, never the main one. Removed at the end of
    the session (processes, mounts, cgroups, namespaces, dirs), also after a failure."""
    from tests.conftest import require
    from tests.netnsdocker import Lab, lab_problem

    problem = lab_problem()
    require(problem is None, f"the netns Swarm lab needs {problem}")
    lab = Lab()
    close = close_after_last_user("netns_lab", lab.close)
    try:
        yield lab
    finally:
        close()


@pytest.fixture(scope="session")
def swarm_manager(netns_lab, busybox_image):
    """The lab's first dockerd as a single-node swarm manager (advertising its veth address),
    with the busybox test image loaded from the main engine."""
    from tests.netnsdocker import swarm_init

    node = netns_lab.engine("a")
    swarm_init(node)
    netns_lab.load(node, busybox_image)
    return node


# --- the backend servers (tests/backendkit.py), for the tests that need no engine ----------------
# a real `bao server -dev` and `moto_server` per module that asks; aws_env sets the standard AWS
# variables (tests/backendkit.AWS_ENV) for a test that asks


@pytest.fixture(scope="module")
def bao(tmp_path_factory) -> Iterator[Server]:
    with openbao_server(tmp_path_factory.mktemp("bao")) as server:
        yield server


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[Server]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
