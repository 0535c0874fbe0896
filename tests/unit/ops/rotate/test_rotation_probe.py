"""A probe proof (a secret's `probe:`, a consumer's `proof: {probe: ...}`) in a rotation: the
runner's Probe step replayed from every crash point, a failing probe rolling back like a
missing log line, and the effect itself (ops/rotate/proofs.run_probe) against a fake engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.ops.rotate.test_rotation_journal import FakeStack, Harness, replay
from titan_deploy.core.rotation import Probe, plan_exchange
from titan_deploy.ops.rotate.proofs import run_probe
from titan_deploy.ops.rotate.runner import NothingDeployed, StepFailed
from titan_deploy.project import Project

PROBE = "probe: [python3, -m, standin, test-order, binance]"


class ProbingStack(FakeStack):
    """The exchange accepts a test order only with a registered key; every probe counted."""

    def __init__(self, manifest, registered=None) -> None:
        super().__init__(manifest, registered)
        self.probes: list[str] = []
        self.orders_refused: set | None = None  # values whose test order is refused

    def probe(self, step: Probe) -> str:
        self._effect()
        self.probes.append(step.service)
        values = {self.files[(s, a.version)] for s, a in self.running[step.service].items()}
        if self.orders_refused is not None and values & self.orders_refused:
            if step.required:
                raise StepFailed(f"probe `{' '.join(step.command)}` did not pass")
            return "WARNING: probe failed"
        return "probe passed"


@pytest.fixture
def project(titan_project: Path) -> Project:
    path = titan_project / "secrets.manifest.yml"
    text = path.read_text()
    marker = "    verify_log: 'Exchange connected \\(binance\\)'\n"
    assert text.count(marker) == 2
    path.write_text(text.replace(marker, marker + f"    {PROBE}\n"))
    (titan_project / "secrets").mkdir(mode=0o700)
    return Project(project_dir=titan_project)


class ProbeHarness(Harness):
    def fresh(self, registered=None):
        journal, stack = super().fresh(registered)
        probing = ProbingStack(self.manifest, registered)
        probing.inputs = stack.inputs
        return journal, probing


def exchange(project: Project) -> ProbeHarness:
    return ProbeHarness(project, lambda j: plan_exchange(project.manifest, "binance", {}, {}))


@pytest.mark.parametrize("mode", ["resume", "abort"])
def test_exchange_with_a_probe_replayed_from_every_crash_point(project: Project, mode) -> None:
    harness = exchange(project)
    plan, _, _, outcome = harness.reference()
    assert sum(isinstance(s, Probe) for s in plan.steps) == 4  # one per consumer
    assert outcome.status == "completed"
    assert replay(harness, mode) >= 14


def test_a_refused_test_order_rolls_back_like_a_missing_log_line(project: Project) -> None:
    harness = exchange(project)
    journal, stack = harness.fresh()
    stack.orders_refused = {("binance_api_key", b"new-key")}  # logs fine, orders refused
    initial = stack.state()
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back"
    assert outcome.reason.startswith("probe `python3 -m standin test-order binance` did not")
    assert stack.state() == initial  # every consumer back on the old keys, new files gone
    assert [s.action for s in outcome.rollback_steps][:3] == ["repoint", "verify", "check-log"]
    assert harness.load().history[-1].outcome == "rolled back"


@dataclass
class Info:
    id: str
    name: str
    status: str = "running"


@dataclass
class Result:
    exit_code: int
    stdout: bytes = b"the value could be here"
    stderr: bytes = b""


class ProbeEngine:
    def __init__(self, codes: dict[str, list[int]], status: str = "running") -> None:
        self.codes = codes
        self.status = status
        self.calls: list[tuple[str, list[str], float]] = []

    def containers(self, project: str, service: str | None = None):
        return [Info(cid, f"{project}-{service}-{cid}", self.status) for cid in self.codes]

    def exec(self, container_id: str, argv: list[str], *, timeout: float = 60.0, **kw):
        self.calls.append((container_id, argv, timeout))
        codes = self.codes[container_id]
        return Result(codes.pop(0) if len(codes) > 1 else codes[0])


def test_run_probe_passes_once_every_container_exits_0() -> None:
    engine = ProbeEngine({"c1": [1, 0], "c2": [0]})
    note = run_probe(engine, "p", Probe("svc", ("t", "x")), 30, sleep=lambda s: None)
    assert note.startswith("`t x` passed in")
    assert [c[0] for c in engine.calls] == ["c1", "c2", "c1"]  # a passed container is done
    assert all(c[1] == ["t", "x"] and 10 <= c[2] <= 30 for c in engine.calls)


def test_run_probe_that_never_passes_fails_naming_exit_codes_never_output() -> None:
    engine = ProbeEngine({"c1": [3]})
    with pytest.raises(StepFailed) as info:
        run_probe(engine, "p", Probe("svc", ("t",)), 0.5, sleep=lambda s: None)
    assert str(info.value) == "probe `t` did not pass in p-svc-c1 (exit 3) within 0s"
    note = run_probe(engine, "p", Probe("svc", ("t",), required=False), 0.5, sleep=lambda s: 0)
    assert note.startswith("WARNING: probe `t` did not pass")


def test_run_probe_with_nothing_running_is_no_proof() -> None:
    engine = ProbeEngine({"c1": [0]}, status="exited")
    with pytest.raises(NothingDeployed):
        run_probe(engine, "p", Probe("svc", ("t",)), 5)
    assert run_probe(engine, "p", Probe("svc", ("t",), required=False), 5).startswith("not run")
