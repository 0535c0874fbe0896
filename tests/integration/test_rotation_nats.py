"""`rotate nats` on the real demo (issue 12 item 3): the real nats-server accepts the old and the
new credential while the clients move (it is reloaded, never restarted), so not one connection
or publish fails; a control run WITHOUT the overlap shows the failures the counters see; a
killed rotation is finished by resume or undone by abort. On the module's plain demo stack
(prod healthchecks: the 1 s ones of the rotation stack fail `up` on a loaded machine).

Failures are counted where they happen: nats-server logs every refused login
("authentication error"; the client gets "Authorization Violation"), and it runs through the
whole rotation (same container); each stand-in counts its failed connects and publishes
(nats_client.py), read from every client container before it is replaced and after."""

from __future__ import annotations

import json

import pytest

from tests.integration.demo import DEMO_FILES
from tests.integration.rotation_kit import (
    assert_consistent,
    container_logs,
    docker_client,
    journal,
    remember_values,
    run_td,
    scrape,
)
from tests.integration.test_demo_nats import PORTS, login
from tests.poll import wait_until

pytestmark = pytest.mark.docker

FAST = ["--stop-timeout", "1", "--settle", "1"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_images, busybox_image):
    """A demo stack of this module's own: a NATS rotation changes the credentials every other
    test of the session's shared `demo` stack logs in with (test_demo_nats)."""
    from tests.integration.demo import make_demo, wait_healthy

    stack = make_demo(tmp_path_factory.mktemp("natsdemo"))
    up = stack.td("up", "--timeout", "240")
    if up.returncode != 0:
        stack.down()
        pytest.fail(f"demo up failed:\n{up.output}", pytrace=False)
    wait_healthy(stack)
    yield stack
    stack.down()


CRASH = "TITAN_DEPLOY_CRASH_AFTER_STEP"
REFUSED = "authentication error"


def assert_no_secret(stack, texts: list[str]) -> None:
    """No value of a secret in `texts`: `nats_user` is configuration (`sensitive: false`), which
    nats-server logs when it refuses a login (the control run makes it refuse)."""
    from tests import canary

    public = ("nats_user", "nats_auth_conf")  # the config's text holds the user name too
    values = {k: v for k, v in stack.values.items() if not k.startswith(public)}
    canary.assert_no_canary(values, texts)


def containers(stack, service: str):
    return docker_client().containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={stack.name}",
                f"com.docker.compose.service={service}",
            ]
        }
    )


def server(stack):
    (found,) = containers(stack, "nats")
    return found


def refusals(stack) -> int:
    """Logins nats-server refused since it started."""
    return server(stack).logs().decode("utf-8", "replace").count(REFUSED)


def failures(stack) -> dict[str, float]:
    """Every client's failed NATS connects + publishes, in its running container."""
    out = {}
    for service, port in PORTS.items():
        for c in containers(stack, service):
            m = scrape(c, f"http://127.0.0.1:{port}/metrics")
            out[service] = m.get("nats_connect_failures", 0) + m.get("nats_publish_failures", 0)
    return out


def publishing(stack) -> None:
    """Every client connected and publishing (after a restart: its first heartbeats)."""
    for service, port in PORTS.items():
        wait_until(
            lambda s=service, p=port: all(
                scrape(c, f"http://127.0.0.1:{p}/metrics").get("nats_publishes", 0) >= 2
                for c in containers(stack, s)
            ),
            f"{service} publishes",
            timeout=90,
        )


def creds(stack) -> tuple[bytes, bytes]:
    """The (user, password) the clients are assigned now (journal), read from their files."""
    assigned = journal(stack).get("assignments") or {}
    out = []
    for name in ("nats_user", "nats_password"):
        version = (assigned.get(name, {}).get("titan-brain") or {}).get("version")
        path = stack.root / "secrets" / (name if version is None else f"{name}.v{version}")
        out.append(path.read_bytes().strip())
    return out[0], out[1]


def test_nats_rotation_with_overlap_fails_no_connection_or_publish(demo):
    s = demo
    publishing(s)
    remember_values(s)
    old = creds(s)
    nats_id, refused = server(s).id, refusals(s)
    dry = run_td(s, "rotate", "nats", "--dry-run")
    assert dry.returncode == 0 and "accepting the old and the new credential" in dry.stdout
    result = run_td(s, "--json", "rotate", "nats", *FAST)
    assert result.returncode == 0, result.output[-3000:]
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "completed"
    assert server(s).id == nats_id  # reloaded twice, never recreated
    publishing(s)
    assert refusals(s) == refused  # not one login refused during the rotation
    assert set(failures(s).values()) == {0}  # every client: no failed connect or publish
    remember_values(s)
    new = creds(s)
    assert new[0] != old[0] and new[1] != old[1]
    assert login(s, *new) == "ACCEPTED"
    assert login(s, *old) == "connect refused: Authorization Violation"
    assert_consistent(s)
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])


def test_control_without_the_overlap_the_counters_see_failures(demo):
    """The same move without the overlap: the server takes the new user only while every
    client still has the old one. Its clients are kicked and refused (the counters and the
    server's log see it), which is what the overlap prevents. Then back to the old config."""
    from titan_deploy.core.configs import render
    from titan_deploy.core.overlay import Assignment
    from titan_deploy.core.rotation import Change, Journal, Repoint
    from titan_deploy.io import journal as journal_io
    from titan_deploy.ops.rotate.effects import StackEffects
    from titan_deploy.project import Project

    s = demo
    publishing(s)
    before, refused = failures(s), refusals(s)
    project = Project(project_dir=s.root, project_name=s.name, compose_file_options=DEMO_FILES)
    template = (s.root / "templates/nats_auth.conf.j2").read_text()
    new_only = render("t", template, {"nats_user": b"tdcontrolx1", "nats_password": b"y" * 32})
    state = journal_io.load(project)
    version = max([0, *state.last_version.values()]) + 50
    path = s.root / "secrets" / f"nats_auth_conf.v{version}"
    path.write_bytes(new_only)
    path.chmod(0o640)
    was = state.assignments.get("nats_auth_conf", {}).get("nats", Assignment())
    effects = StackEffects(project, timeout=120, log_timeout=60).connect()
    for target in (Assignment(version), was):
        assigned = {**state.assignments, "nats_auth_conf": {"nats": target}}
        step = Repoint((Change("nats", "nats_auth_conf", target),))
        journal_io.save(project, Journal(assignments=assigned, last_version=state.last_version))
        assert "reloaded nats" in effects.repoint(step, journal_io.load(project))
        if target != was:
            wait_until(lambda: refusals(s) > refused, "nats-server refuses the old user", 60)
            wait_until(
                lambda: sum(failures(s).values()) > sum(before.values()),
                "the clients count failed connects or publishes",
                60,
            )
    path.unlink()
    journal_io.save(project, state)
    publishing(s)  # reconnected on the old config


@pytest.mark.parametrize("step", [8])
def test_nats_killed_at_a_step_boundary_then_resume_completes(demo, step: int):
    s = demo
    publishing(s)
    refused = refusals(s)
    crashed = run_td(s, "rotate", "nats", *FAST, env={CRASH: str(step)})
    assert crashed.returncode == -9
    resumed = run_td(s, "--json", "rotate", "resume", *FAST)
    assert resumed.returncode == 0, resumed.output[-3000:]
    publishing(s)
    remember_values(s)
    assert login(s, *creds(s)) == "ACCEPTED"
    assert refusals(s) == refused
    assert_consistent(s)


@pytest.mark.parametrize("step", [26])
def test_nats_killed_then_abort_returns_to_the_old_credential(demo, step: int):
    s = demo
    publishing(s)
    remember_values(s)
    old, before = creds(s), journal(s).get("assignments")
    refused = refusals(s)
    crashed = run_td(s, "rotate", "nats", *FAST, env={CRASH: str(step)})
    assert crashed.returncode == -9
    remember_values(s)
    aborted = run_td(s, "--json", "rotate", "abort", *FAST)
    assert aborted.returncode == 0, aborted.output[-3000:]
    publishing(s)
    assert creds(s) == old and login(s, *old) == "ACCEPTED"
    assert refusals(s) == refused
    doc = assert_consistent(s)
    assert doc["assignments"] == before
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])
