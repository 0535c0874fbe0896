"""When a Swarm step may trust the stack (core/swarm_converge.py, ops/swarm_up.pending_services
and prune; README "Several hosts"), against a fake manager in the states a real one passes
through, so each race is deterministic.

Every `docker stack deploy` updates every service, which resets its UpdateStatus to none; the
updater marks it `updating` a moment later. A rollback (or a forward step, or `up`) that polled
in between saw the old tasks running, every replica up, and called the service converged: its
verify then read tasks about to be replaced, and the next reader saw another stack."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from titan_deploy.core.swarm_converge import (
    MESSAGE_CHARS,
    LiveTask,
    pending_reason,
    spec_essence,
    swarm_verdict,
)
from titan_deploy.io.swarm import Swarm
from titan_deploy.ops.swarm_up import pending_services, prune

STACK = "tdfake"
OURS = {"org.titan-deploy.project": STACK, "org.titan-deploy.secret": "hmac"}


def container(*secret_ids: str, env: tuple[str, ...] = ("KEY_ID=k1",)) -> dict:
    return {
        "Env": list(env),
        "Secrets": [
            {"SecretID": sid, "SecretName": f"name-{sid}", "File": {"Name": "hmac"}}
            for sid in secret_ids
        ],
    }


def service(spec: dict, state: str = "", previous: dict | None = None) -> dict:
    out = {
        "ID": "svc-1",
        "Spec": {
            "Name": f"{STACK}_listener",
            "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": spec},
        },
    }
    if previous is not None:
        out["PreviousSpec"] = {"TaskTemplate": {"ContainerSpec": previous}}
    if state:
        out["UpdateStatus"] = {"State": state}
    return out


def task(tid: str, spec: dict, desired: str = "running", state: str = "running") -> dict:
    return {
        "ID": tid,
        "ServiceID": "svc-1",
        "DesiredState": desired,
        "Status": {"State": state},
        "Spec": {"ContainerSpec": spec},
    }


class FakeAPI:
    """The manager's API as docker-py returns it (filters as the engine applies them)."""

    def __init__(self, services: list[dict], tasks: list[dict], secrets: list[dict] = ()):
        self._services, self._tasks, self._secrets = services, tasks, list(secrets)
        self.removed: list[str] = []

    def services(self, filters=None) -> list[dict]:
        return self._services

    def tasks(self, filters=None) -> list[dict]:
        filters = filters or {}
        out = [t for t in self._tasks if t["ServiceID"] == filters.get("service", t["ServiceID"])]
        if "desired-state" in filters:
            out = [t for t in out if t["DesiredState"] == filters["desired-state"]]
        return out

    def secrets(self, filters=None) -> list[dict]:
        return [s for s in self._secrets if s["ID"] not in self.removed]

    def remove_secret(self, secret_id: str) -> None:
        self.removed.append(secret_id)


def swarm(api: FakeAPI) -> Swarm:
    engine = SimpleNamespace(client=SimpleNamespace(api=api), _call=lambda what, fn: fn())
    return Swarm(engine)  # type: ignore[arg-type]


PROJECT = SimpleNamespace(name=STACK)
OLD, NEW = container("sec-old"), container("sec-new", env=("KEY_ID=k2",))


@pytest.mark.parametrize("status", ["", "completed"])
def test_right_after_a_deploy_the_old_task_is_not_converged(status):
    """The deploy set the new spec; the updater has not started (no status, or the last
    update's `completed`): the old task still runs, desired running, 1 of 1 replicas."""
    api = FakeAPI([service(NEW, status)], [task("t-old", OLD)])
    pending, failed = pending_services(PROJECT, swarm(api))  # type: ignore[arg-type]
    assert failed == []
    assert "not yet updated to the service's current spec" in pending["listener"]


def test_a_replacement_waiting_for_its_predecessor_is_not_converged():
    """stop-first: the new task (desired ready) waits while the old one stops."""
    tasks = [task("t-old", OLD, desired="shutdown"), task("t-new", NEW, "ready", "pending")]
    pending, _ = pending_services(PROJECT, swarm(FakeAPI([service(NEW)], tasks)))  # type: ignore[arg-type]
    assert "waits to replace another" in pending["listener"]


def test_a_service_whose_task_runs_its_current_spec_has_converged():
    tasks = [task("t-old", OLD, desired="shutdown", state="shutdown"), task("t-new", NEW)]
    api = FakeAPI([service(NEW, "completed")], tasks)
    assert pending_services(PROJECT, swarm(api)) == ({}, [])  # type: ignore[arg-type]


def test_an_update_in_progress_and_an_old_task_beside_a_new_one_are_not_converged():
    running_both = [task("t-old", OLD), task("t-new", NEW)]  # start-first, mid-update
    assert pending_reason("updating", 1, []) == "rolling update in progress"
    live = [LiveTask(t["ID"], "running", "running", True) for t in running_both]
    assert pending_reason("", 1, live) == "2 tasks for 1 replica(s)"
    assert pending_reason("", 1, live[:1]) == ""
    assert pending_reason("", None, [LiveTask("t", "running", "starting", True)]) != ""


def test_the_spec_essence_is_the_secrets_and_env_in_any_order():
    a = container("s1", "s2", env=("A=1", "B=2"))
    b = {**container("s2", "s1", env=("B=2", "A=1")), "Image": "other"}
    assert spec_essence(a) == spec_essence(b)
    assert spec_essence(a) != spec_essence(container("s1", "s2", env=("A=1", "B=3")))
    assert spec_essence(a) != spec_essence(container("s1", env=("A=1", "B=2")))


def test_prune_never_removes_an_object_a_task_still_uses():
    """The service spec (and the previous one) name only the new object, but a task made from
    an older spec still runs with `sec-older`: it stays; the unused one goes."""
    older = container("sec-older")
    tasks = [
        task("t-stale", older),  # a task the updater has not replaced (yet)
        task("t-stopping", older, desired="shutdown", state="running"),
        task("t-gone", container("sec-unused"), desired="shutdown", state="shutdown"),
        task("t-new", NEW),
    ]
    secrets = [
        {"ID": sid, "Spec": {"Name": f"{STACK}_hmac_{sid}", "Labels": OURS}}
        for sid in ("sec-older", "sec-unused", "sec-new", "sec-old")
    ]
    api = FakeAPI([service(NEW, "completed", previous=OLD)], tasks, secrets)
    removed = prune(PROJECT, swarm(api), keep=set())  # type: ignore[arg-type]
    assert removed == [f"{STACK}_hmac_sec-unused"]
    assert api.removed == ["sec-unused"]


# --- Swarm's own verdict: its update monitor paused or rolled the update back ---------------------

GAVE_UP = ["paused", "rollback_started", "rollback_paused", "rollback_completed"]


def gave_up(state: str, spec: dict, message: str = "update rolled back due to failure") -> dict:
    out = service(spec, state)
    out["UpdateStatus"]["Message"] = message
    return out


@pytest.mark.parametrize("state", GAVE_UP)
def test_a_service_swarm_paused_or_rolled_back_fails_whatever_its_tasks_look_like(state):
    """After Swarm's rollback the spec is the old one again and its task runs it: by the tasks
    alone the service has converged. Paused: the old task runs on, and a step would wait out
    --timeout. Either way Swarm's verdict decides: K005 naming the state and Swarm's message."""
    for spec, tasks in [(OLD, [task("t-old", OLD)]), (NEW, [task("t-old", OLD)])]:
        api = FakeAPI([gave_up(state, spec)], tasks)
        pending, failed = pending_services(PROJECT, swarm(api))  # type: ignore[arg-type]
        assert pending == {}
        [finding] = failed
        assert finding.code == "K005" and finding.service == "listener"
        assert f"({state})" in finding.message and "Swarm" in finding.message
        assert finding.message.endswith(": update rolled back due to failure")


def test_swarm_verdict_is_one_bounded_line_and_only_for_the_states_it_gave_up_in():
    assert (
        swarm_verdict("rollback_completed", "")
        == "Swarm rolled its update back (rollback_completed)"
    )
    said = swarm_verdict("paused", "task a\nfailed:\t" + "x" * 1000)
    assert "\n" not in said and "\t" not in said and len(said) < MESSAGE_CHARS + 60
    assert said.startswith("Swarm paused its update (paused): task a failed: x")
    for state in ["", "updating", "completed", "rollback_whatever"]:
        assert swarm_verdict(state, "m") == ""


def test_a_rotation_step_fails_at_once_on_swarms_rollback_naming_service_and_state(monkeypatch):
    """The step's verify does not wait out --timeout (sleeping would fail this test): it fails
    on the first look, naming the service, Swarm's state and Swarm's message verbatim (the
    runner scrubs every StepFailed before the journal, a progress line or a report sees it:
    tests/unit/ops/rotate/test_rotation_redaction.py)."""
    from titan_deploy.core.rotation.steps import Verify
    from titan_deploy.ops.rotate import swarm_effects
    from titan_deploy.ops.rotate.runner import StepFailed

    def waited(_seconds: float) -> None:
        raise AssertionError("the step waited for a service Swarm had rolled back")

    monkeypatch.setattr(swarm_effects.time, "sleep", waited)
    api = FakeAPI([gave_up("rollback_completed", OLD, "task t-new failed: canary-abc")], [])
    effects = swarm_effects.SwarmEffects(PROJECT, timeout=3600, compose_for=lambda *_: None)  # type: ignore[arg-type]
    effects.__dict__["engine"] = swarm(api).engine
    with pytest.raises(StepFailed) as caught:
        effects.verify(Verify(("listener",)))
    assert str(caught.value) == (
        "listener: Swarm rolled its update back (rollback_completed): task t-new failed: canary-abc"
    )
