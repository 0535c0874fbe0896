"""ARCHITECTURE.md invariant 6 (listeners accept both keys before any signer changes), checked
EXHAUSTIVELY (not sampled): at every step boundary and during every step of phase 1, phase 2 and
every abort — from every crash point, including crashes during the abort itself — and for every
subset of containers that might have restarted at that moment, every key a signer may sign with is
accepted by every listener.

Model. A service's containers may run any assignment in its `possible` set. While a Repoint runs
(or after a crash inside it), each touched service may run the assignment before OR after it; once
the step is done (recreated, healthy, verified) it runs exactly the target. A crash changes no
container; resume re-runs the interrupted step; abort runs rollback_steps computed from the
journal as it was at the crash. Every combination of possible assignments (itertools.product, one
pick per service) is checked; since the invariant is pairwise (a signer container, a listener
container), per-service picks also cover several containers of one service. Key identity comes
from the plan: a "copy" version holds the same key as the version it copies.

The same exploration proves, for every procedure (HMAC and the restart rotation of `rotate
secret`), ARCHITECTURE.md invariant 2 and where each path ends: a version is written only where
no container may run it, a version is removed and the base file rewritten only when no container
may run it, every resume ends with every consumer on the plan's target and every abort with
every consumer back where it started.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace

import pytest

from tests.paths import REPO
from titan_deploy.core.manifest import load_manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import (
    Change,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
    apply_steps,
    plan_hmac,
    plan_hmac_finish,
    plan_restart,
    roles,
    rollback_steps,
)

M = load_manifest(REPO / "secrets.manifest.yml")
H = "titan_hmac_secret"
ROLES = roles(M.secrets[H])
SIGNERS = sorted(s for s, r in ROLES.items() if r == "signer")
LISTENERS = sorted(s for s, r in ROLES.items() if r == "listener")


class Violation(AssertionError):
    pass


class World:
    """The possible running assignments of every consumer of `secret`, the key each version
    holds, and the version files that exist (None: the base file)."""

    def __init__(self, assignments: dict, identity: dict, secret: str = H) -> None:
        self.secret = secret
        role = roles(M.secrets[secret])  # a restart secret: no signers, no listeners
        self.signers = sorted(s for s, r in role.items() if r == "signer")
        self.listeners = sorted(s for s, r in role.items() if r == "listener")
        consumers = list(role)
        self.possible = {s: {assignments.get(secret, {}).get(s, Assignment())} for s in consumers}
        self.identity = identity
        self.files = {None} | {v for a in self._running() for v in (a.version, a.secondary)}
        self.states = 0

    def copy(self) -> World:
        other = World.__new__(World)
        other.secret = self.secret
        other.signers, other.listeners = self.signers, self.listeners
        other.possible = {s: set(v) for s, v in self.possible.items()}
        other.identity = self.identity
        other.files = set(self.files)
        other.states = 0
        return other

    def _running(self) -> set:
        return {a for options in self.possible.values() for a in options}

    def mounted(self) -> set:
        """Every file some container may run (primary or previous key)."""
        return {v for a in self._running() for v in (a.version, a.secondary) if v is not None} | (
            {None} if any(a.version is None for a in self._running()) else set()
        )

    def touch_files(self, step: Step, where: str) -> None:
        """Invariant 2: a file a container may run is never written, rewritten or removed."""
        if isinstance(step, WriteVersion):
            if step.version in self.mounted():
                raise Violation(f"{where}: writes v{step.version}, which a container may run")
            self.files.add(step.version)
        elif isinstance(step, SyncBase) and None in self.mounted():
            raise Violation(f"{where}: rewrites the base file, which a container may run")
        elif isinstance(step, RemoveVersions):
            gone = set(step.versions) & self.mounted()
            if gone:
                raise Violation(f"{where}: removes {sorted(gone)}, which a container may run")
            self.files -= set(step.versions)
        missing = self.mounted() - self.files
        if missing:
            raise Violation(f"{where}: a container may run missing files {sorted(missing)}")

    def at(self, assignments: dict, where: str) -> None:
        """Every consumer runs exactly its assignment in `assignments` (a path's end)."""
        for service, options in self.possible.items():
            wanted = assignments.get(self.secret, {}).get(service, Assignment())
            if options != {wanted}:
                raise Violation(f"{where}: {service} may run {options}, not {wanted}")

    def key(self, version):
        return self.identity.get(version, ("v", version))

    def check(self, where: str) -> None:
        services = sorted(self.possible)
        for combo in itertools.product(*(sorted(self.possible[s], key=repr) for s in services)):
            running = dict(zip(services, combo, strict=True))
            self.states += 1
            for signer in self.signers:
                key = self.key(running[signer].version)
                for listener in self.listeners:
                    a = running[listener]
                    accepted = {self.key(a.version)}
                    if a.secondary is not None:
                        accepted.add(self.key(a.secondary))
                    if key not in accepted:
                        raise Violation(f"{where}: {signer} signs with {key}, {listener} runs {a}")

    def run(self, steps: Iterable[Step], label: str, crash_during: int | None = None) -> None:
        """Run steps; with crash_during=i, stop while step i is in progress."""
        for i, step in enumerate(steps):
            self.touch_files(step, f"{label} step {i + 1}")
            if isinstance(step, WriteVersion) and step.source == "copy":
                self.identity[step.version] = self.key(step.copy_of)
            if isinstance(step, Repoint):
                for change in step.changes:
                    self.possible[change.service].add(change.assignment)
                self.check(f"{label} during step {i + 1}")
                if crash_during == i:
                    return
                for change in step.changes:
                    self.possible[change.service] = {change.assignment}
            elif crash_during == i:
                self.check(f"{label} crashed in step {i + 1}")
                return
            self.check(f"{label} after step {i + 1}")


def rollback_from(plan, reached: int, procedure: str, manifest=M):
    now = apply_steps(plan.initial, plan.steps[:reached])
    return rollback_steps(
        manifest, procedure, plan.secrets, plan.initial, now, plan.steps[:reached]
    )


def explore(plan, procedure: str, world: World, manifest=M) -> int:
    """Uninterrupted; and for every crash point: resume, or abort (crashing anywhere in it).
    Every resume ends on the plan's target, every abort back on `plan.initial`."""
    states = 0
    target = apply_steps(plan.initial, plan.steps)
    straight = world.copy()
    straight.run(plan.steps, f"{procedure} straight")
    straight.at(target, f"{procedure} straight")
    states += straight.states
    for k in range(len(plan.steps)):
        for crash_in_step in (True, False):  # crash inside step k, or at the boundary after it
            label = f"{procedure} crash {'in' if crash_in_step else 'after'} step {k + 1}"
            crashed = world.copy()
            if crash_in_step:
                crashed.run(plan.steps, label, crash_during=k)
                reached, next_step = k + 1, k
            else:
                crashed.run(plan.steps[: k + 1], label)
                reached, next_step = k + 1, k + 1
            resumed = crashed.copy()
            resumed.run(plan.steps[next_step:], f"{label}, resume")
            resumed.at(target, f"{label}, resume")
            states += crashed.states + resumed.states
            if any(s.cleanup for s in plan.steps[:reached]):
                continue  # past the point of no return: abort refuses (tested in plans)
            back = rollback_from(plan, reached, procedure, manifest)
            aborted = crashed.copy()
            aborted.run(back, f"{label}, abort")
            aborted.at(plan.initial, f"{label}, abort")
            states += aborted.states
            for j in range(len(back)):  # the abort itself crashes, then is continued
                again = crashed.copy()
                again.run(back, f"{label}, abort crash in {j + 1}", crash_during=j)
                again.run(back[j:], f"{label}, abort crash in {j + 1}, abort again")
                again.at(plan.initial, f"{label}, abort crash in {j + 1}, abort again")
                states += again.states
    return states


def test_hmac_invariant_phase1_phase2_and_every_abort_exhaustively() -> None:
    world = World({H: {s: Assignment() for s in ROLES}}, {None: ("base",)})
    phase1 = plan_hmac(M, H, {}, existing=(), key_token="aaaaaa")
    states = explore(phase1, "hmac", world)
    # phase 2 starts from the end of phase 1
    done = world.copy()
    done.run(phase1.steps, "phase 1")
    phase2 = plan_hmac_finish(M, H, apply_steps({}, phase1.steps), existing=(1, 2))
    states += explore(phase2, "hmac-finish", done)
    # abort of a completed phase 1 (pending phase 2), crashing anywhere in it
    back = rollback_from(phase1, len(phase1.steps), "hmac")
    assert [type(s) for s in back][:2] == [Repoint, Verify]
    assert back[0].services == tuple(SIGNERS)  # signers first
    for j in range(len(back) + 1):
        w = done.copy()
        w.run(back, "abort after phase 1", crash_during=j if j < len(back) else None)
        if j < len(back):
            w.run(back[j:], "abort after phase 1, again")
        states += w.states
    assert states > 500, states  # every combination was enumerated, not a sample


def test_second_rotation_from_versions_is_safe_too() -> None:
    start = {H: {s: Assignment(2, None, "k2-a") for s in ROLES}}
    world = World(start, {None: ("base",)})
    plan = plan_hmac(M, H, start, existing=(2,), key_token="bbbbbb", last_version=2)
    assert explore(plan, "hmac", world) > 100


def test_the_checker_sees_a_wrong_order() -> None:
    """Control: signers first (what an operator might do by hand) violates the invariant."""
    wrong = (
        WriteVersion(H, 1, "generate"),
        Repoint((Change("titan-brain", H, Assignment(1, None, "k1-x")),)),
        Verify(("titan-brain",)),
    )
    world = World({H: {s: Assignment() for s in ROLES}}, {None: ("base",)})
    with pytest.raises(Violation, match="titan-brain signs with"):
        world.run(wrong, "signers first")


def test_the_checker_sees_listeners_dropping_the_old_key_too_early() -> None:
    """Control: listeners switch to the new key only (no previous) while brain signs old."""
    wrong = (
        WriteVersion(H, 1, "generate"),
        Repoint(tuple(Change(s, H, Assignment(1, None, "k1-x")) for s in LISTENERS)),
    )
    world = World({H: {s: Assignment() for s in ROLES}}, {None: ("base",)})
    with pytest.raises(Violation):
        world.run(wrong, "listeners without previous")


# --- restart rotation (`rotate secret`): invariant 2 and where every path ends ------------------


@pytest.mark.parametrize("secret", ["grafana_admin_password", "gemini_api_key"])
def test_restart_rotation_from_the_base_file_every_crash_point(secret: str) -> None:
    plan = plan_restart(M, secret, {}, existing=(), source="input")
    world = World({}, {None: ("base",)}, secret)
    assert explore(plan, "restart", world) > 10


def test_restart_rotation_of_a_shared_secret_from_versions_every_crash_point() -> None:
    """A restart secret read by four services (one at a time), all on v2 with a stray v1 on
    disk: v3 is written, v1 and v2 go only once nobody may run them."""
    shared = "bybit_api_key"
    manifest = replace(
        M, secrets={**M.secrets, shared: replace(M.secrets[shared], group=None, verify_log=None)}
    )
    services = [c.service for c in manifest.secrets[shared].consumers]
    start = {shared: {s: Assignment(2) for s in services}}
    plan = plan_restart(manifest, shared, start, existing=(1, 2), last_version=2)
    world = World(start, {None: ("base",)}, shared)
    world.files.add(1)
    assert explore(plan, "restart", world, manifest) > 100


def test_the_checker_sees_a_mounted_file_removed_or_rewritten() -> None:
    """Control: removing the version in use, or syncing the base file while a container may
    still run it, violates invariant 2; ending anywhere but the target is caught too."""
    g = "grafana_admin_password"
    world = World({g: {"grafana": Assignment(2)}}, {}, g)
    with pytest.raises(Violation, match="removes \\[2\\]"):
        world.copy().run((RemoveVersions(g, (2,)),), "remove in use")
    base = World({}, {}, g)
    with pytest.raises(Violation, match="rewrites the base file"):
        base.copy().run((WriteVersion(g, 1, "input"), SyncBase(g, 1)), "sync too early")
    with pytest.raises(Violation, match="may run"):
        base.at({g: {"grafana": Assignment(1)}}, "never repointed")
