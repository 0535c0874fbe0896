"""`rotate nats` on the real demo (issue 12 item 3): the real nats-server accepts the old and the
new credential while the clients move (it is reloaded, never restarted), so not one connection
or publish fails. Three engine runs, each proving several things (CI time):

- ONE rotation killed (SIGKILL) after EVERY step boundary and resumed by the next process
  (`rotate resume` killed after the next step, ...), `rotate abort` refused past the point of
  no return on the way; zero failed connects, publishes or logins throughout;
- aborts after boundaries of different kinds: the server reloaded onto the overlap (nothing
  else moved), and mid-clients (two moved): back to the old credential, zero failures;
- the control WITHOUT the overlap (hidden test hook): the server refuses every client, the
  counters see it and the auth-failure guard (auth_guard.counters: nats_auth_failures_total)
  fails the step and rolls the rotation back.

Abort after EVERY boundary (forward and rollback) runs on the NATS lab, a minimal stack with
every kind of boundary (tests/integration/test_rotation_nats_abort.py), and on a fake stack in
tests/unit/ops/rotate/test_rotation_nats_crash.py. On the module's plain demo stack (prod
healthchecks: the 1 s ones of the rotation stack fail `up` on a loaded machine).

Failures are counted as tests/integration/natskit.py says."""

from __future__ import annotations

import json

import pytest

from tests.integration import natskit
from tests.integration.natskit import CLEANUP, CRASH, FAST, assert_no_secret, refusals, server
from tests.integration.rotation_kit import (
    assert_consistent,
    container_logs,
    docker_client,
    journal,
    remember_values,
    run_td,
)
from tests.integration.test_demo_nats import PORTS

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_images, busybox_image):
    """A demo stack of this module's own: a NATS rotation changes the credentials every other
    test of the session's shared `demo` stack logs in with (test_demo_nats)."""
    from tests.integration.demo import make_demo, wait_healthy

    stack = make_demo(tmp_path_factory.mktemp("natsdemo"))
    tag = natskit.pin_standin(stack, stack.root / "demo" / "docker-compose.demo.yml")
    up = stack.td("up", "--timeout", "240")
    if up.returncode != 0:
        stack.down()
        pytest.fail(f"demo up failed:\n{up.output}", pytrace=False)
    wait_healthy(stack)
    yield stack
    stack.down()
    docker_client().images.remove(tag)  # the tag only: the image stays (it is :latest)


NO_OVERLAP = "TITAN_DEPLOY_NATS_NO_OVERLAP"


def failures(stack, seen: dict[str, float] | None = None) -> dict[str, float]:
    return natskit.failures(stack, PORTS, seen)


def publishing(stack) -> None:
    natskit.publishing(stack, PORTS)


def creds(stack) -> tuple[bytes, bytes]:
    return natskit.creds(stack, "titan-brain")


def login(stack, user: bytes, password: bytes) -> str:
    return natskit.login(stack, user, password, via="titan-brain")


def test_nats_killed_at_every_step_boundary_then_resumed_fails_no_connection(demo):
    """One rotation, one process per step: `rotate nats` killed after step 1, `rotate resume`
    killed after step 2, ... after the last step, then a final resume completes it. After the
    first cleanup step `rotate abort` is refused (exit 2) naming `rotate resume`."""
    s = demo
    publishing(s)
    remember_values(s)
    old = creds(s)
    nats_id, refused = server(s).id, refusals(s)
    dry = run_td(s, "rotate", "nats", "--dry-run")
    assert dry.returncode == 0 and "accepting the old and the new credential" in dry.stdout
    seen = failures(s)
    crashed = run_td(s, "rotate", "nats", *FAST, env={CRASH: "1"})
    assert crashed.returncode == -9, crashed.output[-3000:]
    steps = journal(s)["active"]["steps"]
    cleanup = next(i for i, st in enumerate(steps, 1) if st["action"] in CLEANUP)
    for k in range(2, len(steps) + 1):
        assert journal(s)["active"]["done"] == k - 1  # killed right after step k - 1
        if steps[k - 1]["action"] == "repoint":  # each container read before it is replaced
            failures(s, seen)
        if k - 1 == cleanup:
            refused_abort = run_td(s, "rotate", "abort", *FAST)
            assert refused_abort.returncode == 2, refused_abort.output[-3000:]
            assert "rotate resume" in refused_abort.output
            assert journal(s)["active"]["done"] == k - 1  # nothing changed
        step = run_td(s, "rotate", "resume", *FAST, env={CRASH: str(k)})
        assert step.returncode == -9, (k, step.output[-3000:])
    assert journal(s)["active"]["done"] == len(steps)
    result = run_td(s, "--json", "rotate", "resume", *FAST)
    assert result.returncode == 0, result.output[-3000:]
    assert json.loads(result.stdout)["data"]["outcome"] == "completed"
    assert server(s).id == nats_id  # reloaded twice, never recreated
    publishing(s)
    failures(s, seen)
    assert refusals(s) == refused  # not one login refused during the rotation
    assert set(seen.values()) == {0}  # every client container: no failed connect/publish/login
    remember_values(s)
    new = creds(s)
    assert new[0] != old[0] and new[1] != old[1]
    assert login(s, *new) == "ACCEPTED"
    assert login(s, *old) == "connect refused: Authorization Violation"
    assert_consistent(s)
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])


# After these boundaries an abort must restore the old credential: 5 = the overlap config
# written and the server reloaded onto it (verified), no client moved yet; 11 = mid-clients,
# brain and execution on the new credential (execution verified, its proof not yet seen).
ABORT_AFTER = (5, 11)


def test_nats_killed_then_abort_returns_to_the_old_credential(demo):
    s = demo
    nats_id = server(s).id
    for k in ABORT_AFTER:
        publishing(s)
        remember_values(s)
        old, before = creds(s), journal(s).get("assignments")
        refused, seen = refusals(s), failures(s)
        crashed = run_td(s, "rotate", "nats", *FAST, env={CRASH: str(k)})
        assert crashed.returncode == -9, (k, crashed.output[-3000:])
        failures(s, seen)
        remember_values(s)
        aborted = run_td(s, "--json", "rotate", "abort", *FAST)
        assert aborted.returncode == 0, (k, aborted.output[-3000:])
        assert json.loads(aborted.stdout)["data"]["outcome"] == "rolled back"
        publishing(s)
        failures(s, seen)
        assert creds(s) == old and login(s, *old) == "ACCEPTED", k
        assert refusals(s) == refused and set(seen.values()) == {0}, k
        doc = assert_consistent(s)
        assert doc["assignments"] == before, k
    assert server(s).id == nats_id
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])


def test_control_without_the_overlap_the_nats_guard_fails_the_step_and_rolls_back(demo):
    """The same rotation with the overlap disabled (the hidden test hook renders the new user
    only): the server's reload refuses every client still on the old credential, the counters
    and the server's log see it, and the guard fails that step: rolled back, the server on its
    old config, every client publishing with the old credential again."""
    s = demo
    publishing(s)
    remember_values(s)
    old, before, refused = creds(s), journal(s).get("assignments"), refusals(s)
    result = run_td(s, "--json", "rotate", "nats", *FAST, env={NO_OVERLAP: "1"})
    assert result.returncode == 1, result.output[-3000:]
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    assert "nats_auth_failures_total rose during step" in doc["summary"]
    assert refusals(s) > refused  # nats-server refused the old user while it was removed
    publishing(s)
    assert creds(s) == old and login(s, *old) == "ACCEPTED"
    assert assert_consistent(s)["assignments"] == before
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])
