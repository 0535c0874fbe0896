"""Class 9.5: the journal against a manifest changed mid-rotation, replayed from EVERY crash point.

For each procedure (HMAC phase 1, DB, exchange) the real runner is killed at every step boundary,
inside every effect and inside every journal write; the manifest is then changed in each way an
operator might change it (consumer removed or added, secret renamed or removed, rotation kind
changed, env var changed; and no change, as the control) and the real `rotate status`,
`rotate resume` and `rotate abort` (ops/rotate/recover.py, status.py) take it from there:

- resume-first: status and resume agree (a conflicting change is NAMED by both, with the command
  that resolves it: abort); whatever resume leaves, abort (and, for HMAC, the abort of a
  completed phase 1) brings the stack back to where it started;
- abort-first: abort always has a way out (it undoes from the journal alone, even when the
  manifest no longer mentions the service or the secret), or — past the point of no return —
  resume finishes it;
- at the end status says "no rotation in flight", resume and abort say there is nothing to do,
  the next plan of the same secret is accepted, and every container runs exactly what it ran
  before (or, when the rotation was finished, what an uninterrupted run leaves).

Each crash point is crashed once and its moment (journal, stack) put back for each change and
branch (`Scenario.crash_once`). The stack is a fake whose containers run what the overlay says
(ops.render.current_plan: the manifest plus the journal) at the moment they are recreated, so a
consumer the overlay drops loses its mount — a crash-looping listener — and that fails the test
on the spot, as does any moment where a listener rejects what a signer signs.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from titan_deploy.core.rotation import (
    Journal,
    ManifestConflict,
    PastPointOfNoReturn,
    Plan,
    RemoveVersions,
    Repoint,
    SyncBase,
    WriteVersion,
    manifest_changes,
    plan_db,
    plan_exchange,
    plan_hmac,
    resume_refusal,
    start,
)
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.render import current_plan
from titan_deploy.ops.rotate import command
from titan_deploy.ops.rotate.recover import run_abort, run_resume
from titan_deploy.ops.rotate.runner import Hooks, Settings, StepFailed, execute
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.ops.rotate.status import run_status
from titan_deploy.project import Project

H = "titan_hmac_secret"
DB = "titan_db_password"
BK, BS = "binance_api_key", "binance_api_secret"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
MISSING = ("missing",)
FAST = RotateSettings(settle=0)


class Crash(BaseException):
    """kill -9: nothing in the runner catches it."""


# --- the manifest changes -----------------------------------------------------------------------

Edit = Callable[[dict], None]


def _drop(secret: str, service: str) -> Edit:
    return lambda doc: doc["secrets"][secret]["consumers"].pop(service)


def _add(secret: str, service: str, entry: Any) -> Edit:
    return lambda doc: doc["secrets"][secret]["consumers"].__setitem__(service, entry)


def _rename(secret: str, new: str) -> Edit:
    def edit(doc: dict) -> None:
        doc["secrets"] = {(new if k == secret else k): v for k, v in doc["secrets"].items()}

    return edit


def _remove(*secrets: str) -> Edit:
    def edit(doc: dict) -> None:
        for secret in secrets:
            doc["secrets"].pop(secret)

    return edit


def _env(secret: str, service: str, env: str) -> Edit:
    def edit(doc: dict) -> None:
        entry = doc["secrets"][secret]["consumers"][service]
        if isinstance(entry, dict):
            entry["env"] = env
        else:
            doc["secrets"][secret]["consumers"][service] = env

    return edit


def _hmac_to_restart(doc: dict) -> None:
    body = doc["secrets"][H]
    body["rotation"] = "restart"
    body.pop("secondary_env")
    body.pop("key_id_env")
    body["consumers"] = {s: c["env"] for s, c in body["consumers"].items()}


def _db_to_restart(doc: dict) -> None:
    doc["secrets"][DB]["rotation"] = "restart"
    doc["secrets"][DB].pop("provision")


def _both(*edits: Edit) -> Edit:
    def edit(doc: dict) -> None:
        for e in edits:
            e(doc)

    return edit


LISTENER = {"env": "TITAN_HMAC_SECRET_PRIMARY_FILE", "role": "listener"}
CHANGES: dict[str, dict[str, Edit | None]] = {
    "hmac": {
        "no change": None,
        "listener removed": _drop(H, "titan-sentinel"),
        "listener added": _add(H, "titan-hunter", LISTENER),
        "signer added": _add(H, "titan-console", {**LISTENER, "role": "signer"}),
        "secret renamed": _rename(H, "titan_hmac_key"),
        "secret removed": _remove(H),
        "rotation kind changed": _hmac_to_restart,
        "env var changed": _env(H, "titan-execution", "TITAN_HMAC_PRIMARY_FILE"),
        "secondary_env changed": lambda d: d["secrets"][H].__setitem__(
            "secondary_env", "TITAN_HMAC_PREVIOUS_FILE"
        ),
    },
    "db": {
        "no change": None,
        "consumer removed": _drop(DB, "titan-brain"),
        "consumer added": _add(DB, "titan-console", "TITAN_DB_PASSWORD_FILE"),
        "secret renamed": _rename(DB, "titan_pg_password"),
        "secret removed": _remove(DB),
        "rotation kind changed": _db_to_restart,
        "env var changed": _env(DB, "titan-brain", "DB_PASSWORD_FILE"),
    },
    "exchange": {
        "no change": None,
        "consumer removed": _both(_drop(BK, "titan-ai-quant"), _drop(BS, "titan-ai-quant")),
        "consumer added": _add(BK, "titan-hunter", "BINANCE_API_KEY_FILE"),
        "secret renamed": _rename(BS, "binance_secret_key"),
        "secret removed": _remove(BS),
        "rotation kind changed": lambda d: d["secrets"][BK].__setitem__("rotation", "rolling"),
        "env var changed": _env(BK, "titan-sentinel", "BINANCE_KEY_FILE"),
    },
}


# --- a stack whose containers run what the overlay said when they were recreated ---------------


class OverlayStack:
    def __init__(self, project: Project) -> None:
        self.project = project
        spec = project.manifest.secrets[H]
        self.signers = [(c.service, c.env) for c in spec.consumers if c.role == "signer"]
        self.listeners = [(c.service, c.env) for c in spec.consumers if c.role == "listener"]
        self.secondary_env = spec.secondary_env
        self.files: dict[tuple, Any] = {(s, None): (s, "base") for s in project.manifest.secrets}
        self.db_value = self.files[(DB, None)]
        self.inputs: dict[str, bytes] = {}
        self.running: dict[str, dict[str, Any]] = {}
        self.mounts: dict[str, set[tuple]] = {}
        plan = current_plan(project)
        for svc in plan.services:
            self._recreate(svc.service, plan)
        self.initial_running = copy.deepcopy(self.running)
        self.crash_at_effect: int | None = None
        self.effects = 0

    def bind(self, project, options=None, progress=None, inputs=None) -> OverlayStack:
        """make_effects for the ops: a new process knows only the project (no inputs)."""
        self.project = project
        self.inputs = dict(inputs or {})
        return self

    def _recreate(self, service: str, plan) -> None:
        svc = plan.service(service)
        env: dict[str, Any] = {}
        mounts: set[tuple] = set()
        for mount in svc.mounts if svc else ():
            assert mount.env not in env, f"the overlay sets {mount.env} twice for {service}"
            env[mount.env] = self.files.get((mount.secret, mount.version), MISSING)
            mounts.add((mount.secret, mount.version))
        for name, value in svc.env if svc else ():
            env[name] = ("key id", value)
        self.running[service] = env
        self.mounts[service] = mounts

    def _effect(self) -> None:
        self.effects += 1
        if self.crash_at_effect == self.effects:
            raise Crash(f"effect {self.effects}")

    def check(self, where: str) -> None:
        for service, before in self.initial_running.items():
            env = self.running.get(service, {})
            for name in before:
                value = env.get(name)
                assert value not in (None, MISSING), f"{where}: {service} lost {name}: crash-loop"
        for signer, sign_env in self.signers:
            key = self.running[signer][sign_env]
            for listener, env in self.listeners:
                accepted = {self.running[listener][env]}
                accepted.add(self.running[listener].get(self.secondary_env))
                assert key in accepted, f"{where}: {listener} rejects what {signer} signs"

    def state(self) -> tuple:
        return copy.deepcopy(self.running), dict(self.files), self.db_value

    def clone(self) -> OverlayStack:
        """An independent copy of this stack as it is now (file values are immutable tuples)."""
        twin = copy.copy(self)
        twin.files = dict(self.files)
        twin.inputs = dict(self.inputs)
        twin.running = copy.deepcopy(self.running)
        twin.mounts = {service: set(mounts) for service, mounts in self.mounts.items()}
        return twin

    # effects
    def write_version(self, step: WriteVersion, journal: Journal) -> str:
        key = (step.secret, step.version)
        if key not in self.files:
            if step.source == "copy":
                self.files[key] = self.files[(step.secret, step.copy_of)]
            elif step.source == "input":
                if step.secret not in self.inputs:
                    raise StepFailed("the new value was never saved")
                self.files[key] = (step.secret, self.inputs[step.secret])
            else:
                self.files[key] = (step.secret, f"v{step.version}")
        self._effect()
        return "written"

    def repoint(self, step: Repoint, journal: Journal) -> str:
        plan = current_plan(self.project)  # the overlay, from the journal the runner saved
        for service in step.services:
            self._recreate(service, plan)
        self.check(f"recreate {', '.join(step.services)}")
        self._effect()
        return "recreated"

    def verify(self, step) -> str:
        self._effect()
        return "verified"

    def provision(self, step) -> str:
        self.db_value = self.files[(step.secret, step.version)]
        self._effect()
        return "provisioned"

    def check_log(self, step) -> str:
        self._effect()
        return "proof seen"

    def sync_base(self, step: SyncBase) -> str:
        if not any((step.secret, None) in m for m in self.mounts.values()):
            self.files[(step.secret, None)] = self.files[(step.secret, step.version)]
        self._effect()
        return "synced"

    def remove_versions(self, step: RemoveVersions, journal: Journal) -> str:
        for version in step.versions:
            if not any((step.secret, version) in m for m in self.mounts.values()):
                self.files.pop((step.secret, version), None)
        self._effect()
        return "removed"

    def guard_snapshot(self):
        return {}


# --- the replay ---------------------------------------------------------------------------------


def make_plan(procedure: str, project: Project, journal: Journal) -> Plan:
    m = project.manifest
    if procedure == "hmac":
        return plan_hmac(m, H, journal.assignments, (), "aaaaaa", journal.last_version.get(H, 0))
    if procedure == "db":
        return plan_db(m, DB, journal.assignments, ())
    return plan_exchange(m, "binance", journal.assignments, {})


def boundary(k: int) -> Hooks:
    def after(mode: str, n: int) -> None:
        if mode == "forward" and n == k:
            raise Crash(f"after step {k}")

    return Hooks(after_step=after, now=lambda: NOW, sleep=lambda s: None)


def mid_write(w: int) -> Hooks:
    count = [0]

    def mid(tmp: Path) -> None:
        count[0] += 1
        if count[0] == w:
            raise Crash(f"mid journal write {w}")

    return Hooks(mid_write=mid, now=lambda: NOW, sleep=lambda s: None)


class Scenario:
    def __init__(self, root: Path, procedure: str, monkeypatch) -> None:
        self.root = root
        self.procedure = procedure
        self.monkeypatch = monkeypatch
        self.original = (root / "secrets.manifest.yml").read_text()
        self.edited: dict[Edit, str] = {}

    def project(self) -> Project:
        return Project(project_dir=self.root)

    def fresh(self) -> tuple[Project, OverlayStack, Journal]:
        (self.root / "secrets.manifest.yml").write_text(self.original)
        for name in ("state.json",):
            (self.root / ".titan-deploy" / name).unlink(missing_ok=True)
        project = self.project()
        stack = OverlayStack(project)
        stack.inputs = {BK: b"new-key", BS: b"new-secret"}
        plan = make_plan(self.procedure, project, Journal())
        journal = start(plan, Journal(), "run", NOW)
        journal_io.save(project, journal)
        self.monkeypatch.setattr(command, "make_effects", stack.bind)
        return project, stack, journal

    def run(self, project, journal, stack, hooks=None) -> None:
        mid = hooks.mid_write if hooks else None
        execute(
            journal,
            stack,
            lambda j: journal_io.save(project, j, before_replace=mid),
            project.manifest,
            Settings(guard=False, settle=0),
            hooks=hooks or Hooks(now=lambda: NOW, sleep=lambda s: None),
        )

    def reference(self) -> tuple[tuple, tuple, int]:
        """(the stack before, after an uninterrupted run, how many effects that run made)."""
        project, stack, journal = self.fresh()
        initial = stack.state()
        before = stack.effects
        self.run(project, journal, stack)
        self.last_stack = stack
        return initial, stack.state(), stack.effects - before

    def crash_points(self, effects: int) -> list[tuple[str, Callable[[], Hooks | None], Any]]:
        """(label, a fresh Hooks maker, crash inside effect N) for every crash point of a
        procedure whose uninterrupted run makes `effects` effects."""
        steps = len(make_plan(self.procedure, self.project(), Journal()).steps)
        points: list[tuple[str, Callable[[], Hooks | None], int | None]] = []
        for k in range(1, steps + 1):
            points.append((f"after step {k}", lambda k=k: boundary(k), None))
        points += [(f"inside effect {e}", lambda: None, e) for e in range(1, effects + 1)]
        # a crash inside a journal write leaves the journal of the write before: that of a
        # boundary or of an inside-effect crash; the last few are replayed here all the same
        points += [
            (f"mid journal write {w}", lambda w=w: mid_write(w), None)
            for w in range(2 * steps - 1, 2 * steps + 2)
        ]
        return points

    def crash(self, make_hooks, effect) -> OverlayStack:
        hooks = make_hooks()
        project, stack, journal = self.fresh()
        stack.crash_at_effect = effect
        with pytest.raises(Crash):
            self.run(project, journal, stack, hooks=hooks)
        stack.crash_at_effect = None
        return stack

    def crash_once(self, make_hooks, effect) -> Callable[[], OverlayStack]:
        """Crash at one point, once; each call of the function returned puts that moment back
        (the journal file, the manifest as it was, a copy of the stack) for one manifest change
        and one branch. The crash is deterministic (the same clock, inputs and run id; only the
        seconds each step took, in the journal's log, differ), so this is the state a new crash
        would leave, without re-running the steps up to it for each of the (changes x branches)
        replays of the point: the replays are the same, at a third of the cost."""
        stack = self.crash(make_hooks, effect)
        state = self.root / ".titan-deploy" / "state.json"
        journal = state.read_bytes()

        def restore() -> OverlayStack:
            (self.root / "secrets.manifest.yml").write_text(self.original)
            state.write_bytes(journal)
            twin = stack.clone()
            self.monkeypatch.setattr(command, "make_effects", twin.bind)
            return twin

        return restore

    def change(self, edit: Edit | None) -> Project:
        if edit is not None:
            if edit not in self.edited:
                doc = yaml.safe_load(self.original)
                edit(doc)
                self.edited[edit] = yaml.safe_dump(doc, sort_keys=False)
            (self.root / "secrets.manifest.yml").write_text(self.edited[edit])
        return self.project()


SECRET = {"hmac": H, "db": DB, "exchange": BK}
ROTATION = {"hmac": "hmac", "db": "rolling", "exchange": "restart"}


def in_flight(project: Project) -> bool:
    report = run_status(project)
    active = report.data["active"] is not None
    assert active == report.summary.startswith("rotation in flight"), report.summary
    return active


def assert_settled(project: Project, procedure: str, label: str) -> None:
    """No rotation in flight, and status, resume, abort and a new plan all agree on it."""
    report = run_status(project)
    assert report.summary == "no rotation in flight", (label, report.summary)
    assert run_resume(project, settings=FAST).data["outcome"] == "nothing to do", label
    assert run_abort(project, settings=FAST).data["outcome"] == "nothing to do", label
    spec = project.manifest.secrets.get(SECRET[procedure])
    if spec is not None and spec.rotation == ROTATION[procedure]:
        make_plan(procedure, project, journal_io.load(project))  # accepted: nothing in flight


def abort_everything(project: Project, label: str) -> None:
    """abort until nothing is in flight: the rotation, then (HMAC) its completed phase 1."""
    for _ in range(3):
        journal = journal_io.load(project)
        if journal.active is None and not journal.pending:
            return
        report = run_abort(project, settings=FAST)
        assert report.data["outcome"] == "rolled back", (label, report.summary)
    raise AssertionError(f"{label}: abort never ends")


def assert_back(s: Scenario, stack: OverlayStack, project, label, initial, final) -> None:
    """Where the stack must be once nothing is in flight: where it started, or (a rotation that
    was finished, never an HMAC phase 1: that one was aborted too) where a clean run ends."""
    last = journal_io.load(project).history[-1].outcome
    if last == "completed" and s.procedure != "hmac":
        assert stack.state() == final, label
    else:
        assert stack.running == initial[0], label
        assert stack.db_value == initial[2], label
        assert set(stack.files) == set(initial[1]), label  # every new version is gone


def resume_first(s: Scenario, stack: OverlayStack, edit, label: str, initial, final) -> None:
    project = s.change(edit)
    journal = journal_io.load(project)
    refusal = resume_refusal(project.manifest, journal)
    if in_flight(project):
        codes = [f.code for f in run_status(project).findings]
        assert ("R013" in codes) == bool(manifest_changes(project.manifest, journal.active.specs))
        if refusal:
            with pytest.raises(ManifestConflict) as caught:
                run_resume(project, settings=FAST)
            assert str(caught.value) == refusal and caught.value.exit_code == 2, label
            assert "rotate abort" in refusal, label
            assert in_flight(project), label  # refused: nothing changed, still in flight
        else:
            report = run_resume(project, settings=FAST)
            assert report.data["outcome"] in ("completed", "rolled back"), label
    else:
        assert refusal is None, label
    abort_everything(project, label)
    assert_back(s, stack, project, label, initial, final)
    assert_settled(project, s.procedure, label)


def abort_first(s: Scenario, stack: OverlayStack, edit, label: str, initial, final) -> None:
    project = s.change(edit)
    journal = journal_io.load(project)
    try:
        report = run_abort(project, settings=FAST)
    except PastPointOfNoReturn as exc:
        assert "rotate resume" in str(exc), label
        assert resume_refusal(project.manifest, journal) is None, label
        report = run_resume(project, settings=FAST)
        assert report.data["outcome"] == "completed", label
    else:
        if report.data["outcome"] == "nothing to do":
            assert journal.active is None and not journal.pending, label
        abort_everything(project, label)
    assert_back(s, stack, project, label, initial, final)
    assert_settled(project, s.procedure, label)


@pytest.fixture(autouse=True)
def _quick(monkeypatch) -> None:
    """Atomicity and the file's layout are tested elsewhere: thousands of journal writes need no
    disk flush nor indentation here; and each manifest text is parsed once (the real parser,
    memoized by content)."""
    import titan_deploy.project

    monkeypatch.setattr(os, "fsync", lambda fd: None)
    compact = SimpleNamespace(
        loads=json.loads,
        dumps=lambda doc, **kw: json.dumps(doc, sort_keys=True, separators=(",", ":")),
    )
    monkeypatch.setattr(journal_io, "json", compact)  # same document, C encoder (no indent)
    parsed: dict[tuple[str, str], Any] = {}
    real = titan_deploy.project.load_manifest

    def load_manifest(path: Path, display: str | None = None):
        key = (str(path), path.read_text())
        if key not in parsed:
            parsed[key] = real(path, display=display)
        return parsed[key]

    monkeypatch.setattr(titan_deploy.project, "load_manifest", load_manifest)


@pytest.fixture
def root(fast_project: Path) -> Path:
    """The project on a tmpfs when there is one (thousands of renames of state.json)."""
    (fast_project / "secrets").mkdir(mode=0o700)
    (fast_project / ".titan-deploy").mkdir(mode=0o700)
    return fast_project


@pytest.mark.parametrize("procedure", ["hmac", "db", "exchange"])
def test_every_crash_point_with_every_manifest_change_has_a_way_back(
    root: Path, procedure: str, monkeypatch
) -> None:
    s = Scenario(root, procedure, monkeypatch)
    initial, final, effects = s.reference()
    checked = 0
    for point, hooks, effect in s.crash_points(effects):
        crashed = s.crash_once(hooks, effect)
        for change, edit in CHANGES[procedure].items():
            for branch in (resume_first, abort_first):
                label = f"{procedure}: {point}, {change}, {branch.__name__}"
                branch(s, crashed(), edit, label, initial, final)
                checked += 1
    assert checked >= 100


# --- the example of the issue, through the CLI ---------------------------------------------------


def test_kill_rotate_hmac_drop_a_listener_resume_is_named_and_abort_recovers(
    root: Path, cli, monkeypatch
) -> None:
    s = Scenario(root, "hmac", monkeypatch)
    initial, _, _ = s.reference()
    stack = s.crash(lambda: boundary(3), None)  # listeners accept both keys; brain not yet
    s.change(CHANGES["hmac"]["listener removed"])
    journal_before = (root / ".titan-deploy" / "state.json").read_text()
    running_before = copy.deepcopy(stack.running)

    status = cli("-C", root, "rotate", "status")
    assert status.exit_code == 0 and "rotation in flight" in status.stdout
    assert "R013" in status.stdout
    named = "titan_hmac_secret: consumer titan-sentinel was removed"
    doc = json.loads(cli("-C", root, "--json", "rotate", "status").stdout)
    assert doc["data"]["manifest_changes"] == {"run": [named]}
    findings = doc["findings"]
    assert any(named in f["message"] and "rotate abort" in f["message"] for f in findings)
    assert any("run `titan-deploy rotate abort` to undo it" in f["message"] for f in findings)
    resume = cli("-C", root, "--json", "rotate", "resume", "--settle", "0")
    assert resume.exit_code == 2
    error = json.loads(resume.stdout)["error"]
    assert named in error and "`titan-deploy rotate abort`" in error
    assert (root / ".titan-deploy" / "state.json").read_text() == journal_before
    assert stack.running == running_before  # resume refused: nothing was recreated
    again = cli("-C", root, "rotate", "hmac")
    assert again.exit_code == 1 and "then `rotate abort`" in again.output
    abort = cli("-C", root, "--json", "rotate", "abort", "--settle", "0")
    assert abort.exit_code == 0, abort.stdout
    doc = json.loads(abort.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    assert named in doc["data"]["manifest_changes"][0]
    assert stack.running == initial[0]  # titan-sentinel back on the old key, mount and all
    assert "no rotation in flight" in cli("-C", root, "rotate", "status").stdout
    assert "nothing to resume" in cli("-C", root, "rotate", "resume").stdout
    assert "nothing to abort" in cli("-C", root, "rotate", "abort").stdout
    assert cli("-C", root, "rotate", "hmac", "--dry-run").exit_code == 0


def test_a_completed_phase1_then_a_dropped_listener_finish_is_named_and_abort_recovers(
    root: Path, cli, monkeypatch
) -> None:
    s = Scenario(root, "hmac", monkeypatch)
    initial, _, _ = s.reference()  # phase 1 done, awaiting phase 2
    stack = s.last_stack
    s.change(CHANGES["hmac"]["listener removed"])
    named = "titan_hmac_secret: consumer titan-sentinel was removed"
    status = cli("-C", root, "--json", "rotate", "status")
    assert any(named in f["message"] for f in json.loads(status.stdout)["findings"])
    assert "phase 1 done" in cli("-C", root, "rotate", "status").stdout
    after_phase1 = copy.deepcopy(stack.running)
    for args in (["--force"], ["--force", "--dry-run"]):
        finish = cli("-C", root, "--json", "rotate", "hmac", "--finish", *args, "--settle", "0")
        assert finish.exit_code == 2
        error = json.loads(finish.stdout)["error"]
        assert named in error and "`titan-deploy rotate abort`" in error
        assert stack.running == after_phase1
    abort = cli("-C", root, "--json", "rotate", "abort", "--settle", "0")
    assert abort.exit_code == 0, abort.stdout
    assert stack.running == initial[0]  # back before phase 1, titan-sentinel included
    assert "no rotation in flight" in cli("-C", root, "rotate", "status").stdout


def test_a_completed_phase1_then_the_secret_renamed_every_command_points_to_abort(
    root: Path, cli, monkeypatch
) -> None:
    s = Scenario(root, "hmac", monkeypatch)
    initial, _, _ = s.reference()  # phase 1 done, awaiting phase 2
    stack = s.last_stack
    s.change(CHANGES["hmac"]["secret renamed"])
    named = "secret titan_hmac_secret is no longer in secrets.manifest.yml (removed or renamed)"
    new = cli("-C", root, "--json", "rotate", "hmac", "--settle", "0")  # of titan_hmac_key
    assert new.exit_code == 2
    assert named in json.loads(new.stdout)["error"]
    resume = cli("-C", root, "rotate", "resume")
    assert resume.exit_code == 0 and "`titan-deploy rotate abort` undoes it" in resume.stdout
    abort = cli("-C", root, "--json", "rotate", "abort", "--settle", "0")
    assert abort.exit_code == 0, abort.stdout
    assert stack.running == initial[0]
    assert cli("-C", root, "rotate", "hmac", "--dry-run").exit_code == 0
