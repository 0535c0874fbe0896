"""The executor and its journal, replayed from EVERY crash point with a fake stack (no engine).

For each procedure (HMAC phase 1 and 2, DB, exchange) the real runner (ops/rotate/runner.py)
runs against FakeStack and the real journal file (io/journal.py, atomic writes). It is killed
(an exception the runner does not catch) at every step boundary (right after the step is
journaled), inside every effect (the effect happened, the journal does not know it), and between
the temp write and the rename of every journal write. The journal is then read back from disk
and, in one run, resumed — the stack must end exactly where an uninterrupted run ends — and, in
another, aborted — the stack must end exactly where it started, new files gone. The fake checks
the HMAC invariant after every recreate, and the guard and lock are tested here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import (
    CheckLog,
    Journal,
    PastPointOfNoReturn,
    Plan,
    Provision,
    RemoveVersions,
    Repoint,
    SyncBase,
    Verify,
    WriteVersion,
    apply_steps,
    begin_rollback,
    current,
    plan_db,
    plan_exchange,
    plan_hmac,
    plan_hmac_finish,
    plan_restart,
    rollback_pending,
    start,
)
from titan_deploy.errors import LockError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.runner import Hooks, Settings, StepFailed, execute
from titan_deploy.project import Project

H = "titan_hmac_secret"
DB = "titan_db_password"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


class Crash(BaseException):
    """kill -9: nothing in the runner catches it."""


class FakeStack:
    """Containers as assignments, files as (secret, version) -> key identity, a database."""

    def __init__(self, manifest: Manifest, registered: set | None = None) -> None:
        self.manifest = manifest
        self.running: dict[str, dict[str, Assignment]] = {}
        for spec in manifest.secrets.values():
            for c in spec.consumers:
                self.running.setdefault(c.service, {})[spec.name] = Assignment()
        self.files = {(s, None): (s, "base") for s in manifest.secrets}
        self.db_value = self.files[(DB, None)]
        self.registered = registered  # exchange: values the exchange accepts (None: all)
        self.crash_at_effect: int | None = None
        self.effects = 0
        self.auth_failures: dict[str, float] = {}
        self.inject_failures_after: int | None = None
        self.inputs: dict[str, bytes] = {}
        self.unhealthy_with: set = set()  # file identities a consumer fails its health check on

    # helpers
    def _effect(self) -> None:
        self.effects += 1
        if self.crash_at_effect == self.effects:
            raise Crash(f"effect {self.effects}")

    def mounted(self, secret: str, version) -> bool:
        return any(
            version == a.version or (version is not None and version == a.secondary)
            for svc in self.running.values()
            for s, a in svc.items()
            if s == secret
        )

    def check_hmac(self) -> None:
        spec = self.manifest.secrets[H]
        for signer in (c.service for c in spec.consumers if c.role == "signer"):
            key = self.files[(H, self.running[signer][H].version)]
            for listener in (c.service for c in spec.consumers if c.role == "listener"):
                a = self.running[listener][H]
                accepted = {self.files[(H, a.version)]}
                if a.secondary is not None:
                    accepted.add(self.files[(H, a.secondary)])
                assert key in accepted, f"{listener} rejects what {signer} signs"

    # effects
    def write_version(self, step: WriteVersion, journal: Journal) -> str:
        key = (step.secret, step.version)
        if key not in self.files:
            if step.source == "copy":
                self.files[key] = self.files[(step.secret, step.copy_of)]
            elif step.source == "input":
                if step.secret not in self.inputs:
                    raise StepFailed("input lost")
                self.files[key] = (step.secret, self.inputs[step.secret])
            else:
                self.files[key] = (step.secret, f"v{step.version}")
        self._effect()
        return "written"

    def repoint(self, step: Repoint, journal: Journal) -> str:
        for change in step.changes:
            self.running[change.service][change.secret] = change.assignment
        self.check_hmac()
        if self.inject_failures_after is not None:
            self.inject_failures_after -= 1
            if self.inject_failures_after < 0:
                self.auth_failures["titan-execution"] = (
                    self.auth_failures.get("titan-execution", 0) + 3
                )
        self._effect()
        return "recreated"

    def verify(self, step: Verify) -> str:
        self._effect()
        for service in step.services:
            running = {self.files[(s, a.version)] for s, a in self.running[service].items()}
            if running & self.unhealthy_with:
                raise StepFailed(f"not healthy after 1s: {service}")
        return "verified"

    def provision(self, step: Provision) -> str:
        self.db_value = self.files[(step.secret, step.version)]
        self._effect()
        return "provisioned"

    def check_log(self, step: CheckLog) -> str:
        self._effect()
        values = {self.files[(s, a.version)] for s, a in self.running[step.service].items()}
        group = {v for v in values if v[0].startswith("binance")}
        if self.registered is not None and not group <= self.registered:
            if step.required:
                raise StepFailed(f"no proof in {step.service}")
            return "WARNING: no proof"
        return "proof seen"

    def sync_base(self, step: SyncBase) -> str:
        if not self.mounted(step.secret, None):
            self.files[(step.secret, None)] = self.files[(step.secret, step.version)]
        self._effect()
        return "synced"

    def remove_versions(self, step: RemoveVersions, journal: Journal) -> str:
        for version in step.versions:
            if (step.secret, version) in self.files and not self.mounted(step.secret, version):
                del self.files[(step.secret, version)]
        self._effect()
        return "removed"

    def guard_snapshot(self):
        return {svc: (svc, n) for svc, n in self.auth_failures.items()} | {"x": ("x", 0.0)}

    # expectations
    def state(self):
        return (
            {svc: dict(secrets) for svc, secrets in self.running.items()},
            dict(self.files),
            self.db_value,
        )


@pytest.fixture
def project(fast_project: Path) -> Project:
    """The project on a tmpfs when there is one: the journal is written thousands of times."""
    (fast_project / "secrets").mkdir(mode=0o700)
    return Project(project_dir=fast_project)


class Harness:
    def __init__(self, project: Project, make_plan: Callable[[Journal], Plan], before=None):
        self.project = project
        self.manifest = project.manifest
        self.make_plan = make_plan
        self.before = before  # (journal, stack) setup: e.g. phase 1 done

    def fresh(self, registered=None) -> tuple[Journal, FakeStack]:
        path = journal_io.state_path(self.project)
        if path.exists():
            path.unlink()
        stack = FakeStack(self.manifest, registered)
        stack.inputs = {
            "binance_api_key": b"new-key",
            "binance_api_secret": b"new-secret",
            "gemini_api_key": b"new-gemini",
        }
        journal = Journal()
        if self.before is not None:
            journal = self.before(self, journal, stack)
            stack.effects = 0
        return journal, stack

    def run(self, journal, stack, hooks=None, settings=None, inputs=True):
        if not inputs:
            stack.inputs = {}
        mid = hooks.mid_write if hooks else None
        return execute(
            journal,
            stack,
            lambda j: journal_io.save(self.project, j, before_replace=mid),
            self.manifest,
            settings or Settings(guard=False, settle=0),
            hooks=hooks or Hooks(now=lambda: NOW, sleep=lambda s: None),
        )

    def start(self, journal, stack):
        plan = self.make_plan(journal)
        journal = start(plan, journal, "run", NOW)
        journal_io.save(self.project, journal)
        return plan, journal

    def reference(self, registered=None):
        journal, stack = self.fresh(registered)
        initial = stack.state()
        plan, journal = self.start(journal, stack)
        outcome = self.run(journal, stack)
        return plan, initial, stack.state(), outcome

    def load(self) -> Journal:
        return journal_io.load(self.project)


def boundary_hooks(n: int) -> Hooks:
    def after(mode: str, step: int) -> None:
        if mode == "forward" and step == n:
            raise Crash(f"after step {n}")

    return Hooks(after_step=after, now=lambda: NOW, sleep=lambda s: None)


def write_hooks(n: int) -> Hooks:
    count = [0]

    def mid(tmp: Path) -> None:
        count[0] += 1
        if count[0] == n:
            raise Crash(f"mid journal write {n}")

    return Hooks(mid_write=mid, now=lambda: NOW, sleep=lambda s: None)


def crash_points(harness: Harness):
    """(label, hooks, crash_at_effect) for every boundary, effect and journal write."""
    plan, _, _, _ = harness.reference()
    n = len(plan.steps)
    points = [(f"after step {k}", boundary_hooks(k), None) for k in range(1, n + 1)]
    points += [(f"inside effect {e}", None, e) for e in range(1, n + 1)]
    # journal writes: one per step start + one per step end + the completion
    points += [(f"mid journal write {w}", write_hooks(w), None) for w in range(1, 2 * n + 2)]
    return points


def replay(harness: Harness, mode: str) -> int:
    _, initial, final, _ = harness.reference()
    checked = 0
    for label, hooks, effect in crash_points(harness):
        journal, stack = harness.fresh()
        _, journal = harness.start(journal, stack)
        stack.crash_at_effect = effect
        with pytest.raises(Crash):
            harness.run(journal, stack, hooks=hooks)
        stack.crash_at_effect = None
        journal = harness.load()  # what survived the crash
        assert journal.active is not None or mode == "resume", label
        if mode == "resume":
            if journal.active is not None:
                outcome = harness.run(journal, stack)
                assert outcome.status == "completed", label
            assert stack.state() == final, label
            assert harness.load().active is None, label
        else:
            try:
                journal.active = begin_rollback(harness.manifest, journal, "abort").active
            except PastPointOfNoReturn:
                assert any(s.cleanup for s in journal.active.reached), label
                continue
            outcome = harness.run(journal, stack)
            assert outcome.status == "rolled back", label
            assert stack.state() == initial, label
        checked += 1
    return checked


def hmac_phase1(h: Harness, journal: Journal) -> Plan:
    return plan_hmac(
        h.manifest, H, journal.assignments, (), "aaaaaa", journal.last_version.get(H, 0)
    )


def phase1_done(h: Harness, journal: Journal, stack: FakeStack) -> Journal:
    _, journal = h.start(journal, stack)
    h.run(journal, stack)
    return h.load()


@pytest.mark.parametrize("mode", ["resume", "abort"])
def test_hmac_phase1_replayed_from_every_crash_point(project: Project, mode: str) -> None:
    harness = Harness(project, lambda j: hmac_phase1(harness, j))
    assert replay(harness, mode) >= 6


@pytest.mark.parametrize("mode", ["resume", "abort"])
def test_hmac_phase2_replayed_from_every_crash_point(project: Project, mode: str) -> None:
    first = Harness(project, lambda j: hmac_phase1(first, j))

    def versions(stack: FakeStack) -> tuple:
        return tuple(sorted(v for (s, v) in stack.files if s == H and v is not None))

    holder: dict = {}

    def before(h, journal, stack):
        holder["stack"] = stack
        return phase1_done(first, journal, stack)

    harness = Harness(
        project,
        lambda j: plan_hmac_finish(project.manifest, H, j.assignments, versions(holder["stack"])),
        before=before,
    )
    assert replay(harness, mode) >= 2


@pytest.mark.parametrize("mode", ["resume", "abort"])
def test_db_replayed_from_every_crash_point(project: Project, mode: str) -> None:
    harness = Harness(project, lambda j: plan_db(project.manifest, DB, j.assignments, ()))
    _, initial, final, _ = harness.reference()
    assert final[2] == (DB, "v1") and initial[2] == (DB, "base")  # the database took v1
    assert replay(harness, mode) >= 6


@pytest.mark.parametrize("mode", ["resume", "abort"])
def test_exchange_replayed_from_every_crash_point(project: Project, mode: str) -> None:
    harness = Harness(project, lambda j: plan_exchange(project.manifest, "binance", {}, {}))
    assert replay(harness, mode) >= 10


def test_exchange_resume_without_the_lost_input_rolls_back(project: Project) -> None:
    harness = Harness(project, lambda j: plan_exchange(project.manifest, "binance", {}, {}))
    _, initial, _, _ = harness.reference()
    journal, stack = harness.fresh()
    _, journal = harness.start(journal, stack)
    stack.crash_at_effect = 1  # the key file is written, the secret file is not
    with pytest.raises(Crash):
        harness.run(journal, stack)
    stack.crash_at_effect = None
    outcome = harness.run(harness.load(), stack, inputs=False)  # a new process: input is gone
    assert outcome.status == "rolled back"
    assert "input lost" in outcome.reason
    assert stack.state() == initial


def test_exchange_unregistered_key_rolls_back_every_consumer(project: Project) -> None:
    harness = Harness(project, lambda j: plan_exchange(project.manifest, "binance", {}, {}))
    journal, stack = harness.fresh(registered={("binance_api_key", "base")})
    initial = stack.state()
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back"
    assert outcome.reason == "no proof in titan-execution"
    assert stack.state() == initial
    assert harness.load().history[-1].outcome == "rolled back"


@pytest.mark.parametrize("mode", ["resume", "abort"])
@pytest.mark.parametrize(
    ("secret", "source"), [("gemini_api_key", "input"), ("grafana_admin_password", "generate")]
)
def test_restart_secret_replayed_from_every_crash_point(
    project: Project, mode: str, secret: str, source: str
) -> None:
    harness = Harness(
        project,
        lambda j: plan_restart(project.manifest, secret, j.assignments, (), source=source),
    )
    _, initial, final, _ = harness.reference()
    consumer = project.manifest.secrets[secret].consumers[0].service
    assert final[0][consumer][secret] == Assignment(1) and initial[0][consumer][secret] == (
        Assignment()
    )
    assert final[1][(secret, None)] == final[1][(secret, 1)]  # the base file took the new value
    assert replay(harness, mode) >= 6


def test_restart_secret_a_consumer_unhealthy_on_the_new_value_is_rolled_back(
    project: Project,
) -> None:
    secret = "gemini_api_key"
    harness = Harness(project, lambda j: plan_restart(project.manifest, secret, {}, ()))
    journal, stack = harness.fresh()
    stack.unhealthy_with = {(secret, b"new-gemini")}
    initial = stack.state()
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back"
    assert outcome.reason == "not healthy after 1s: titan-ai-quant"
    assert [s.action for s in outcome.rollback_steps] == ["repoint", "verify", "remove-versions"]
    assert stack.state() == initial  # back on the old file, verified; the new file gone
    assert harness.load().history[-1].outcome == "rolled back"


def test_restart_secret_resume_without_the_lost_input_rolls_back(project: Project) -> None:
    secret = "gemini_api_key"
    harness = Harness(project, lambda j: plan_restart(project.manifest, secret, {}, ()))
    journal, stack = harness.fresh()
    initial = stack.state()
    _, journal = harness.start(journal, stack)
    with pytest.raises(Crash):
        harness.run(journal, stack, hooks=write_hooks(1))  # killed before the file is written
    outcome = harness.run(harness.load(), stack, inputs=False)  # a new process: input is gone
    assert outcome.status == "rolled back" and "input lost" in str(outcome.reason)
    assert stack.state() == initial


def test_the_guard_aborts_and_rolls_back_on_any_increase(project: Project) -> None:
    harness = Harness(project, lambda j: hmac_phase1(harness, j))
    journal, stack = harness.fresh()
    initial = stack.state()
    stack.inject_failures_after = 1  # the second recreate makes execution count 3 failures
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack, settings=Settings(threshold=0, settle=0))
    assert outcome.status == "rolled back"
    assert "auth_failures_total rose during step 5" in outcome.reason
    assert "titan-execution +3" in outcome.reason
    assert stack.state() == initial
    # with a threshold above the increase it completes
    journal, stack = harness.fresh()
    stack.inject_failures_after = 1
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack, settings=Settings(threshold=5, settle=0))
    assert outcome.status == "completed"
    assert outcome.auth_failures == 3


def test_abort_of_a_completed_phase1(project: Project) -> None:
    harness = Harness(project, lambda j: hmac_phase1(harness, j))
    journal, stack = harness.fresh()
    initial = stack.state()
    journal = phase1_done(harness, journal, stack)
    assert H in journal.pending
    rolled = rollback_pending(project.manifest, journal, H, "abort", NOW, "operator")
    journal.active, journal.pending = rolled.active, rolled.pending
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back"
    assert stack.state() == initial
    assert harness.load().pending == {}


def test_journal_file_is_0600_and_atomic(project: Project) -> None:
    harness = Harness(project, lambda j: hmac_phase1(harness, j))
    journal, stack = harness.fresh()
    harness.start(journal, stack)
    path = journal_io.state_path(project)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["active"]["procedure"] == "hmac"
    assert [p.name for p in path.parent.iterdir() if ".tmp-" in p.name] == []
    loaded = harness.load()
    assert current(loaded.assignments, H, "titan-brain") == Assignment()
    assert apply_steps({}, ()) == {}


def test_unreadable_journal_is_one_clear_line(project: Project) -> None:
    project.state_dir.mkdir(exist_ok=True)
    journal_io.state_path(project).write_text("{not json")
    with pytest.raises(Exception, match="unreadable rotation journal"):
        journal_io.load(project)


# --- the lock (ARCHITECTURE.md invariant 6) -------------------------------------------------------


def test_second_invocation_is_refused_naming_the_pid(project: Project) -> None:
    with journal_io.acquire(project, "rotate hmac") as lock:
        assert lock.holder.pid == os.getpid()
        assert (lock.path / "holder.json").stat().st_mode & 0o777 == 0o600
        with pytest.raises(LockError, match=f"pid {os.getpid()} .`rotate hmac`"):
            journal_io.acquire(project, "rotate db")
        with pytest.raises(LockError, match="another rotation is running"):
            journal_io.acquire(project, "rotate resume", break_stale=True)  # never a live one
    assert not lock.path.exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_is_reported_and_only_broken_on_request(project: Project) -> None:
    path = journal_io.lock_path(project)
    project.state_dir.mkdir(exist_ok=True)
    path.mkdir()
    pid = dead_pid()
    (path / "holder.json").write_text(json.dumps({"pid": pid, "command": "rotate hmac"}))
    with pytest.raises(LockError) as caught:
        journal_io.acquire(project, "rotate db")
    message = str(caught.value)
    assert f"pid {pid}" in message and "no longer running" in message
    assert "rotate resume" in message and "rotate abort" in message
    assert caught.value.exit_code == 3
    with journal_io.acquire(project, "rotate resume", break_stale=True) as lock:
        assert lock.broke is not None and lock.broke.pid == pid


def test_a_reused_pid_is_not_a_live_holder(project: Project) -> None:
    assert journal_io.pid_alive(os.getpid())
    ticks = journal_io.process_start_ticks(os.getpid())
    assert ticks is not None
    assert not journal_io.pid_alive(os.getpid(), start_ticks=ticks + 1)
    assert not journal_io.pid_alive(dead_pid())


GARBAGE_HOLDERS = [
    json.dumps({"pid": -1, "command": "rotate hmac"}),
    json.dumps({"pid": 0, "command": "rotate hmac"}),
    json.dumps({"pid": "1234", "command": "rotate hmac"}),
    json.dumps({"pid": True}),
    json.dumps({"pid": 1.5}),
    json.dumps({"pid": 2**40}),
    json.dumps({"pid": -(2**40)}),
    json.dumps([1, 2]),
    "{not json",
    "",
    "\x00\xff" * 10,
]


@pytest.mark.parametrize("content", GARBAGE_HOLDERS)
def test_a_lock_without_a_valid_pid_is_stale_never_alive(project: Project, content: str) -> None:
    path = journal_io.lock_path(project)
    project.state_dir.mkdir(exist_ok=True)
    path.mkdir()
    (path / "holder.json").write_text(content)
    holder = journal_io.read_holder(path)
    assert holder is not None and holder.pid is None and not holder.alive
    with pytest.raises(LockError) as caught:
        journal_io.acquire(project, "rotate db")
    message = str(caught.value)
    assert "lock holds no valid pid" in message and "stale rotation lock" in message
    assert "None" not in message and "another rotation is running" not in message
    with journal_io.acquire(project, "rotate abort", break_stale=True) as lock:
        assert lock.broke is not None and lock.broke.pid is None
        assert journal_io.broke_message(lock.broke) == (
            "broke the stale rotation lock: it held no valid pid"
        )


@pytest.mark.parametrize("pid", [0, -1, -2, 2**22 + 1, 2**63])
def test_pid_alive_never_signals_a_group_or_overflows(pid: int) -> None:
    assert journal_io.pid_alive(pid) is False


def test_a_file_or_symlink_in_place_of_the_lock_dir_is_a_stale_lock(project: Project) -> None:
    path = journal_io.lock_path(project)
    project.state_dir.mkdir(exist_ok=True)
    for make in (lambda: path.write_text("x"), lambda: path.symlink_to("/nonexistent")):
        make()
        with pytest.raises(LockError, match="lock holds no valid pid"):
            journal_io.acquire(project, "rotate db")
        with journal_io.acquire(project, "rotate resume", break_stale=True) as lock:
            assert lock.broke is not None and path.is_dir()
        assert not path.exists() and not path.is_symlink()


def test_a_lock_being_taken_is_not_stale_yet(project: Project) -> None:
    path = journal_io.lock_path(project)
    project.state_dir.mkdir(exist_ok=True)
    path.mkdir()  # no holder.json yet: another invocation is between mkdir and its write
    with pytest.raises(LockError, match="another rotation is starting"):
        journal_io.acquire(project, "rotate db", break_stale=True)


def test_a_rotation_on_nothing_deployed_says_so_not_that_consumers_went_back(
    project: Project,
) -> None:
    """No consumer container: the forward verify raises NothingDeployed; the outcome says so,
    so `rotate secret`/`rotate exchange` do not claim consumers were put back, verified."""
    from titan_deploy.ops.rotate.runner import NothingDeployed

    secret = "gemini_api_key"
    harness = Harness(project, lambda j: plan_restart(project.manifest, secret, {}, ()))
    journal, stack = harness.fresh()

    def nothing(step: Verify) -> str:
        raise NothingDeployed("none of titan-brain is deployed")

    stack.verify = nothing  # type: ignore[method-assign]
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back" and outcome.nothing_deployed
    journal, stack = harness.fresh()
    stack.unhealthy_with = {(secret, b"new-gemini")}
    _, journal = harness.start(journal, stack)
    outcome = harness.run(journal, stack)
    assert outcome.status == "rolled back" and not outcome.nothing_deployed
