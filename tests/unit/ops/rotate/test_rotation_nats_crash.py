"""`rotate nats` killed at EVERY step boundary, forward and while rolling back, then resumed or
aborted through the real ops (ops/rotate/nats.py, recover.py, runner.py) on a fake stack that
models what matters: which credentials the server's running config accepts and which one each
client runs. The engine tests (tests/integration/test_rotation_nats.py) crash a real rotation at
every boundary once (resume) and abort it at a few boundaries of different kinds; here every
boundary is aborted, and every rollback boundary is crashed and aborted again.

At every repoint (a server reload or a client recreated) every client's credential must be one
the server accepts: otherwise nats-server refuses that client's login, which the fake counts in
the client's nats_auth_failures_total as the stand-ins do, read by the real guard
(ops/rotate/guard.py through the manifest's auth_guard.counters). With the overlap disabled the
same guard fails the step and the rotation rolls back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from titan_deploy.core.rotation import Journal, PastPointOfNoReturn, plan_nats
from titan_deploy.core.rotation.steps import Repoint, current
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate import command, runner
from titan_deploy.ops.rotate import guard as guard_io
from titan_deploy.ops.rotate.nats import run_nats
from titan_deploy.ops.rotate.recover import run_abort, run_resume
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project

USER, PASSWORD, CONF = "nats_user", "nats_password", "nats_auth_conf"
SERVER = "nats"
FAST = RotateSettings(settle=0)
STEPS = 32  # plan_nats on the Titan manifest (6 clients); checked below
CLEANUP_FROM = 29  # the first cleanup step: past it, abort says resume


class Crash(BaseException):
    """The kill -9 (not an Exception: nothing may catch it)."""


class NatsStack:
    """The server runs the config it was last reloaded onto; each client the (user, password)
    it was last recreated with. Files are (secret, version or None) -> value."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.manifest = project.manifest
        self.clients = [c.service for c in self.manifest.secrets[PASSWORD].consumers]
        old = ("u0", "p0")
        self.files: dict[tuple[str, int | None], Any] = {
            (USER, None): old[0],
            (PASSWORD, None): old[1],
            (CONF, None): frozenset({old}),
        }
        self.accepted = self.files[(CONF, None)]
        self.running = {client: old for client in self.clients}
        self.mounts: dict[tuple[str, str], int | None] = {}
        self.refused = dict.fromkeys(self.clients, 0)
        self.overlap = True  # False: the control (the overlap config accepts the new only)
        self.strict = True  # a refused client fails the test on the spot

    def bind(self, project, options=None, progress=None, inputs=None) -> NatsStack:
        """make_effects for the ops (a new process knows only the project)."""
        self.project = project
        return self

    def state(self) -> tuple:
        return self.accepted, dict(self.running), set(self.files)

    def new_credential(self, journal: Journal) -> tuple[str, str]:
        assert journal.active is not None
        new = journal.active.new_versions
        return self.files[(USER, new[USER])], self.files[(PASSWORD, new[PASSWORD])]

    # --- effects (each idempotent, as the real ones) ---------------------------------------

    def write_version(self, step, journal: Journal) -> str:
        key = (step.secret, step.version)
        if key in self.files:
            return "kept"
        if step.source == "generate":
            self.files[key] = f"{step.secret}-v{step.version}"
        elif step.source == "overlap":
            assert journal.active is not None
            was = current(journal.active.initial, CONF, SERVER).version
            old = self.files[(CONF, was)] if self.overlap else frozenset()
            self.files[key] = old | {self.new_credential(journal)}
        else:
            assert step.source == "render", step.source
            self.files[key] = frozenset({self.new_credential(journal)})
        return "written"

    def repoint(self, step: Repoint, journal: Journal) -> str:
        for change in step.changes:
            version = current(journal.assignments, change.secret, change.service).version
            self.mounts[(change.service, change.secret)] = version
        for service in step.services:
            if service == SERVER:
                self.accepted = self._file(CONF, SERVER)
            else:
                self.running[service] = (self._file(USER, service), self._file(PASSWORD, service))
        for client, credential in self.running.items():
            if credential not in self.accepted:  # kicked, then refused at each reconnect
                assert not self.strict, f"{step.describe({})}: the server refuses {client}"
                self.refused[client] += 1
        return "repointed"

    def _file(self, secret: str, service: str) -> Any:
        key = (secret, self.mounts.get((service, secret)))
        assert key in self.files, f"{service} mounts {key}, which is gone: crash-loop"
        return self.files[key]

    def verify(self, step) -> str:
        return "verified"

    def check_log(self, step) -> str:
        return "proof seen"

    def probe(self, step) -> str:  # pragma: no cover - no probe in this plan
        return "probed"

    def provision(self, step) -> str:  # pragma: no cover - no provision in this plan
        raise AssertionError("rotate nats provisions by reloading its server")

    def sync_base(self, step) -> str:
        if not any(s == step.secret and v is None for (_, s), v in self.mounts.items()):
            self.files[(step.secret, None)] = self.files[(step.secret, step.version)]
        return "synced"

    def remove_versions(self, step, journal: Journal) -> str:
        used = {(s, v) for (_, s), v in self.mounts.items()}
        for version in step.versions:
            if (step.secret, version) not in used:
                self.files.pop((step.secret, version), None)
        return "removed"

    # --- the guard: the real snapshot, this stack as its engine ----------------------------

    def guard_snapshot(self):
        return guard_io.snapshot(self, "p", self.manifest.auth_guard)

    def containers(self, project: str, service: str):
        return [SimpleNamespace(id=service, name=service, status="running")]

    def exec(self, container_id: str, argv, timeout: float = 60.0):
        text = f"auth_failures_total 0\nnats_auth_failures_total {self.refused[container_id]}\n"
        return SimpleNamespace(exit_code=0, stdout=text.encode())


@pytest.fixture(autouse=True)
def _quick(monkeypatch) -> None:
    """No disk flush nor indentation for the journal's few thousand writes."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    compact = SimpleNamespace(
        loads=json.loads,
        dumps=lambda doc, **kw: json.dumps(doc, sort_keys=True, separators=(",", ":")),
    )
    monkeypatch.setattr(journal_io, "json", compact)


@pytest.fixture
def root(fast_project: Path) -> Path:
    (fast_project / "secrets").mkdir(mode=0o700)
    (fast_project / ".titan-deploy").mkdir(mode=0o700)
    return fast_project


class Run:
    """One project and stack; `crash_after` arms the kill at one boundary ("7", "rollback:3")
    through the runner's env hook, which the real ops call."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.project = Project(project_dir=root)
        self.stack = NatsStack(self.project)
        self.initial = self.stack.state()
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(command, "make_effects", self.stack.bind)
        self.crash_after(None)

    def crash_after(self, label: str | None) -> None:
        def after(mode: str, n: int) -> None:
            if label == (str(n) if mode == "forward" else f"rollback:{n}"):
                raise Crash(label)

        self.monkeypatch.setattr(runner, "_env_crash", after)

    def crashed(self, op, label: str) -> None:
        self.crash_after(label)
        with pytest.raises(Crash):
            op(self.project, settings=FAST)
        self.crash_after(None)

    def journal(self) -> Journal:
        return journal_io.load(self.project)


def completed(run: Run, final: tuple) -> None:
    journal = run.journal()
    assert journal.active is None and journal.history[-1].outcome == "completed"
    assert run.stack.state() == final
    assert set(run.stack.refused.values()) == {0}


def back(run: Run, label: str) -> None:
    journal = run.journal()
    assert journal.active is None and journal.history[-1].outcome == "rolled back", label
    assert run.stack.state() == run.initial, label  # old config, old credential, no new file
    assert set(run.stack.refused.values()) == {0}, label


@pytest.fixture
def final(root: Path, monkeypatch) -> tuple:
    """The stack after an uninterrupted `rotate nats` (the server accepts the new only)."""
    run = Run(root, monkeypatch)
    report = run_nats(run.project, FAST)
    assert report.data["outcome"] == "completed"
    assert len(plan_nats(run.project.manifest, CONF, {}, {}).steps) == STEPS
    (new,) = run.stack.accepted
    assert set(run.stack.running.values()) == {new} and new != ("u0", "p0")
    state = run.stack.state()
    for path in (root / ".titan-deploy").iterdir():
        path.unlink()
    return state


def test_killed_at_every_boundary_abort_undoes_it_or_says_resume(root, monkeypatch, final):
    """Forward boundary k: abort puts the old credential back (before cleanup) or, from the
    first cleanup step on, refuses naming `rotate resume`, which then completes. Every
    rollback boundary of each of those aborts is killed too, and abort run again finishes."""
    for k in range(1, STEPS + 1):
        label = f"after step {k}"
        run = Run(root, monkeypatch)
        run.crashed(run_nats, str(k))
        assert run.journal().active.done == k, label
        if k >= CLEANUP_FROM:
            with pytest.raises(PastPointOfNoReturn, match="rotate resume"):
                run_abort(run.project, settings=FAST)
            assert run.journal().active.done == k, label  # refused: nothing changed
            assert run_resume(run.project, settings=FAST).data["outcome"] == "completed"
            completed(run, final)
        else:
            steps = _rollback_length(run)
            for j in range(1, steps + 1):
                run.crashed(run_abort, f"rollback:{j}")
                assert run.journal().active.mode == "rollback", (label, j)
            report = run_abort(run.project, settings=FAST)
            assert report.data["outcome"] == "rolled back", (label, report.summary)
            back(run, label)
        for path in (root / ".titan-deploy").iterdir():
            path.unlink()


def _rollback_length(run: Run) -> int:
    """How many steps an abort of the rotation in flight runs (its plan, not run)."""
    from titan_deploy.core.rotation import begin_rollback

    rolled = begin_rollback(run.project.manifest, run.journal(), reason="count")
    assert rolled.active is not None
    return len(rolled.active.steps)


def test_killed_at_every_boundary_resume_completes(root, monkeypatch, final):
    for k in range(1, STEPS + 1):
        run = Run(root, monkeypatch)
        run.crashed(run_nats, str(k))
        report = run_resume(run.project, settings=FAST)
        assert report.data["outcome"] == "completed", (k, report.summary)
        completed(run, final)
        for path in (root / ".titan-deploy").iterdir():
            path.unlink()


def test_without_the_overlap_the_nats_guard_fails_the_step_and_rolls_back(root, monkeypatch):
    """The control: the overlap config accepts the new credential only, so the server's reload
    refuses every client. The guard (auth_guard.counters: nats_auth_failures_total) fails that
    step, and the rollback reloads the server onto its old config."""
    run = Run(root, monkeypatch)
    run.stack.overlap, run.stack.strict = False, False
    report = run_nats(run.project, FAST)
    assert report.data["outcome"] == "rolled back"
    reason = run.journal().history[-1].reason or ""
    assert "nats_auth_failures_total rose during step 4" in reason
    assert "titan-brain nats_auth_failures_total +1" in reason
    assert run.stack.accepted == run.initial[0] and run.stack.running == run.initial[1]
    assert set(run.stack.files) == run.initial[2]
