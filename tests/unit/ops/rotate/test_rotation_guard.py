"""The auth-failure guard's reads (ops/rotate/guard.py) and the settle window (runner.py): the
containers' counters are scraped at once, every running one, and a failure still fails the step;
the window after a verify runs from the moment it saw every service healthy (issue 15)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from titan_deploy.core.manifest_model import AuthGuard
from titan_deploy.ops.rotate import guard
from titan_deploy.ops.rotate.runner import StepFailed, settle_left

GUARD = AuthGuard(
    metric="auth_failures_total",
    endpoints=(("execution", "http://127.0.0.1:3002/metrics"), ("sentinel", "http://x/m")),
)


class Engine:
    """Containers per service; `exec` answers a counter per container (or fails), after
    every scrape of the snapshot has started when `barrier` is set."""

    def __init__(self, services, counters, barrier=None) -> None:
        self.services = services
        self.counters = counters
        self.barrier = barrier
        self.scraped: list[str] = []

    def containers(self, project, service=None):
        return [
            SimpleNamespace(id=cid, name=f"{service}-{cid}", status=status)
            for cid, status in self.services[service]
        ]

    def exec(self, container_id, argv, timeout=60.0):
        assert argv == guard.scrape_argv(argv[-1])
        self.scraped.append(container_id)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # sequential scrapes never get here together
        value = self.counters[container_id]
        if value is None:
            return SimpleNamespace(exit_code=4, stdout=b"")
        return SimpleNamespace(exit_code=0, stdout=f"auth_failures_total {value}\n".encode())


SERVICES = {
    "execution": [("e1", "running"), ("e2", "running"), ("e3", "exited")],
    "sentinel": [("s1", "running")],
}


def test_every_running_container_is_scraped_at_once() -> None:
    engine = Engine(SERVICES, {"e1": 1, "e2": 2, "s1": 0}, threading.Barrier(3))
    found = guard.snapshot(engine, "p", GUARD)
    assert found == {"e1": ("execution", 1.0), "e2": ("execution", 2.0), "s1": ("sentinel", 0.0)}
    assert sorted(engine.scraped) == ["e1", "e2", "s1"]  # not the exited e3


def test_a_counter_that_cannot_be_read_fails_naming_the_first(monkeypatch) -> None:
    monkeypatch.setattr(guard, "RETRY_PAUSE", 0)
    engine = Engine(SERVICES, {"e1": 1, "e2": None, "s1": None})
    with pytest.raises(StepFailed, match=r"cannot read auth_failures_total from execution-e2 "):
        guard.snapshot(engine, "p", GUARD)
    assert engine.scraped.count("e2") == guard.SCRAPE_ATTEMPTS


def test_the_settle_window_runs_from_the_verify_seeing_all_healthy() -> None:
    assert settle_left(SimpleNamespace(), 2.0) == 2.0  # effects that do not say: all of it
    assert settle_left(SimpleNamespace(healthy_since=None), 2.0) == 2.0
    left = settle_left(SimpleNamespace(healthy_since=time.monotonic() - 1.5), 2.0)
    assert 0.0 <= left <= 0.5
    assert settle_left(SimpleNamespace(healthy_since=time.monotonic() - 60), 2.0) == 0.0


def test_the_guards_other_counters_are_read_and_named() -> None:
    """auth_guard.counters (e.g. the NATS clients' refused logins): each read at its own
    endpoints, keyed apart from `metric` so that an increase names the counter."""
    from titan_deploy.core import authguard

    more = AuthGuard(
        metric="auth_failures_total",
        endpoints=(("execution", "http://x/m"),),
        counters=(("nats_auth_failures_total", (("execution", "http://x/m"), ("brain", "u"))),),
    )

    class Both(Engine):
        def exec(self, container_id, argv, timeout=60.0):
            value = self.counters[container_id]
            text = f"auth_failures_total 0\nnats_auth_failures_total {value}\n"
            return SimpleNamespace(exit_code=0, stdout=text.encode())

    services = {"execution": [("e1", "running")], "brain": [("b1", "running")]}
    before = guard.snapshot(Both(services, {"e1": 0, "b1": 0}), "p", more)
    assert before == {
        "e1": ("execution", 0.0),
        "e1 nats_auth_failures_total": ("execution nats_auth_failures_total", 0.0),
        "b1 nats_auth_failures_total": ("brain nats_auth_failures_total", 0.0),
    }
    after = guard.snapshot(Both(services, {"e1": 0, "b1": 2}), "p", more)
    change = authguard.increase(before, after)
    assert authguard.tripped(change, 0)
    assert change.describe() == "brain nats_auth_failures_total +2"
    assert more.metrics == ("auth_failures_total", "nats_auth_failures_total")
    engine = Both(services, {"e1": 0, "b1": 0})
    engine.scraped = []
    real = engine.exec
    engine.exec = lambda cid, argv, timeout=60.0: engine.scraped.append(cid) or real(cid, argv)
    guard.snapshot(engine, "p", more)
    assert sorted(engine.scraped) == ["b1", "e1"]  # one scrape per container and URL


class _Traffic:
    """Effects whose `traffic_snapshot` serves the given per-read values of one container."""

    def __init__(self, values: list[float]) -> None:
        self.values, self.reads = values, 0
        self.healthy_since = time.monotonic()

    def traffic_snapshot(self):
        value = self.values[min(self.reads, len(self.values) - 1)]
        self.reads += 1
        return {"c1": ("listener", value)}


def test_the_settle_window_ends_once_every_listener_served_traffic(monkeypatch) -> None:
    """With auth_guard.settle_on the window ends as soon as each container served
    SETTLE_COUNT more (traffic proved), never later than the window; without it (or without
    traffic) the whole window is waited."""
    from titan_deploy.core.authguard import SETTLE_COUNT
    from titan_deploy.ops.rotate.runner import SETTLE_POLL, settle

    slept: list[float] = []
    effects = _Traffic([10.0, 11.0, 10.0 + SETTLE_COUNT, 99.0])
    settle(effects, 30.0, slept.append)
    assert effects.reads == 3 and slept == [SETTLE_POLL, SETTLE_POLL]

    slept.clear()
    settle(SimpleNamespace(healthy_since=time.monotonic()), 0.5, slept.append)
    assert len(slept) == 1 and 0.45 < slept[0] <= 0.5  # no traffic counter: the window

    from titan_deploy.ops.rotate import runner

    clock = SimpleNamespace(now=1000.0)
    clock.monotonic = lambda: clock.now
    clock.sleep = lambda seconds: setattr(clock, "now", clock.now + seconds)
    monkeypatch.setattr(runner, "time", clock)  # the module's clock: no real waiting
    quiet = _Traffic([5.0])  # never moves: the whole window is waited, never more
    quiet.healthy_since = clock.now
    settle(quiet, 2.0, clock.sleep)
    assert clock.now == pytest.approx(1002.0) and quiet.reads == 1 + round(2.0 / SETTLE_POLL)


def test_traffic_is_proved_only_when_every_container_served_more() -> None:
    from titan_deploy.core.authguard import flowed

    before = {"a": ("x", 3.0), "b": ("y", 0.0)}
    assert flowed(before, {"a": ("x", 5.0), "b": ("y", 2.0)})
    assert not flowed(before, {"a": ("x", 5.0), "b": ("y", 1.0)})
    assert flowed(before, {"a": ("x", 5.0), "new": ("y", 2.0)})  # a new container: from zero
    assert not flowed(before, {})  # nothing read, nothing proved
