"""`rotate nats` as a plan (core/rotation/procedures/nats.py): the server accepts old and new
before any client moves, the old is removed only after every client moved, and every crash
point's rollback never leaves a client on a credential the server refuses."""

from __future__ import annotations

import pytest

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import Assignment as A
from titan_deploy.core.rotation import Repoint, WriteVersion, apply_steps, rollback_steps
from titan_deploy.core.rotation.procedures.nats import find_config, merge_users, plan_nats
from titan_deploy.core.rotation.steps import current
from titan_deploy.errors import UsageError

TEXT = """version: 1
configs:
  auth:
    template: t.j2
    inputs: [user, pw]
    consumers:
      nats:
        target: /run/secrets/nats/auth.conf
        reload: {exec: [nats-server, --signal, reload=1]}
        proof: {log: Reloaded}
secrets:
  user:
    sensitive: false
    kind: token
    generate: true
    rotation: rolling
    consumers: {a: NATS_USER_FILE, b: NATS_USER_FILE}
  pw:
    kind: password
    generate: true
    rotation: rolling
    consumers:
      a: {env: NATS_PASSWORD_FILE, proof: {log: NATS connected}}
      b: NATS_PASSWORD_FILE
"""
M = parse_manifest_text(TEXT, "m.yml")


def accepted(assignments, plan) -> set[int | None]:
    """The config versions the server accepts credentials of: its own file's version, and with
    the overlap the old and the new (the plan's overlap version holds both)."""
    version = current(assignments, "auth", "nats").version
    overlap = next(s.version for s in plan.steps if getattr(s, "source", "") == "overlap")
    return {"old", "new"} if version == overlap else ({"new"} if version else {"old"})


def client_creds(assignments, client: str) -> str:
    return "new" if current(assignments, "pw", client).version else "old"


def test_the_server_takes_both_before_any_client_and_drops_the_old_after_all() -> None:
    plan = plan_nats(M, "auth", {}, {})
    kinds = [(type(s).__name__, getattr(s, "services", None)) for s in plan.steps]
    writes = [s for s in plan.steps if isinstance(s, WriteVersion)]
    assert [(w.secret, w.version, w.source) for w in writes] == [
        ("user", 1, "generate"),
        ("pw", 1, "generate"),
        ("auth", 1, "overlap"),
        ("auth", 2, "render"),
    ]
    repoints = [s.services for s in plan.steps if isinstance(s, Repoint)]
    assert repoints == [("nats",), ("a",), ("b",), ("nats",)]
    assert ("CheckLog", None) in kinds
    assert plan.new_versions == {"user": 1, "pw": 1, "auth": 2}
    # at every step boundary, every client's credential is one the server accepts
    now: dict = {}
    for step in plan.steps:
        now = apply_steps(now, [step])
        for client in ("a", "b"):
            assert client_creds(now, client) in accepted(now, plan), step.describe()


def test_each_client_waits_for_its_proof() -> None:
    plan = plan_nats(M, "auth", {}, {})
    described = [s.describe() for s in plan.steps]
    assert "wait for /NATS connected/ in a's logs since its restart" in described
    assert described.count("wait for /Reloaded/ in nats's logs since its restart") == 2


FORWARD = len([s for s in plan_nats(M, "auth", {}, {}).steps if not s.cleanup])


@pytest.mark.parametrize("reached", range(1, FORWARD + 1))
def test_a_rollback_from_any_point_keeps_every_client_accepted(reached: int) -> None:
    plan = plan_nats(M, "auth", {}, {})
    forward = [s for s in plan.steps if not s.cleanup]
    done = forward[:reached]
    now = apply_steps({}, done)
    back = rollback_steps(M, "nats", plan.secrets, plan.initial, now, done)
    for step in back:
        now = apply_steps(now, [step])
        for client in ("a", "b"):
            assert client_creds(now, client) in accepted(now, plan), step.describe()
    for secret, services in plan.initial.items():
        for service in services:
            assert current(now, secret, service) == current(plan.initial, secret, service)


def test_rollback_after_the_new_only_config_goes_back_through_the_overlap_first() -> None:
    plan = plan_nats(M, "auth", {}, {})
    forward = [s for s in plan.steps if not s.cleanup]
    now = apply_steps({}, forward)
    back = rollback_steps(M, "nats", plan.secrets, plan.initial, now, forward)
    repoints = [s for s in back if isinstance(s, Repoint)]
    assert [r.services for r in repoints] == [("nats",), ("b",), ("a",), ("nats",)]
    assert repoints[0].changes[0].assignment == A(1)  # the overlap: both accepted
    assert repoints[-1].changes[0].assignment == A()  # the old config


def test_versions_are_never_reused() -> None:
    history = {"user": ((1, 2), 2), "pw": ((2,), 3), "auth": ((4,), 4)}
    plan = plan_nats(M, "auth", {}, history)
    assert plan.new_versions == {"user": 3, "pw": 4, "auth": 6}
    removed = {s.secret: s.versions for s in plan.steps if type(s).__name__ == "RemoveVersions"}
    assert removed == {"user": (1, 2), "pw": (2,), "auth": (4, 5)}


def test_find_config_needs_a_live_config_with_generated_inputs() -> None:
    assert find_config(M, None).name == "auth"
    text = TEXT.replace("{exec: [nats-server, --signal, reload=1]}", "restart")
    restart = parse_manifest_text(text, "m.yml")
    with pytest.raises(UsageError, match="configs that fit: none"):
        find_config(restart, None)
    with pytest.raises(UsageError, match="--config other"):
        find_config(M, "other")


def test_merge_users_keeps_both_entries_in_one_line() -> None:
    old = b'users = [{user: "u1", pass: "p1"}]\n'
    new = b'# head\nusers = [{user: "u2", pass: "p2"}]\n'
    assert merge_users(old, new) == (
        b'# head\nusers = [{user: "u1", pass: "p1"}, {user: "u2", pass: "p2"}]\n'
    )
    with pytest.raises(ValueError, match="holds 0 `users") as info:
        merge_users(b"authorization { token: secretvalue }", new)
    assert "secretvalue" not in str(info.value)
