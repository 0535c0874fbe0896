"""The rotation executor: run the active procedure's steps one at a time, journal after each.

Before a step runs, the journal records it as in progress (and, for a Repoint, the assignments
it sets, which the overlay renders from); after it succeeds, as done. A crash anywhere therefore
leaves a journal from which `rotate resume` re-runs the interrupted step (every step is
idempotent) and `rotate abort` computes the rollback (core.rotation.rollback_steps).

A forward step that fails — compose, verify, a missing verify_log line, a probe that does not
exit 0, the auth-failure guard —
switches the procedure to its rollback, journaled the same way; the command then exits 1. A
rollback step that fails stops with exit 3 and the journal still in rollback mode, so
`rotate abort` (or `resume`) continues it once the cause is fixed. Cleanup steps are past the
point of no return: they never trigger a rollback.

Effects come through a `StackEffects`-shaped object (ops/rotate/effects.py on a real engine; a
fake in the unit tests), hooks through `Hooks`. Test hooks, hidden from --help:
`TITAN_DEPLOY_CRASH_AFTER_STEP=N` SIGKILLs the process right after step N is journaled as done
(`rollback:N` for rollback steps); `TITAN_DEPLOY_CRASH_MID_WRITE=TEXT` SIGKILLs it between the
temp write and the rename of the first atomic write whose file name contains TEXT.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from titan_deploy.core import authguard
from titan_deploy.core.rotation import (
    CheckLog,
    Journal,
    Probe,
    Provision,
    Repoint,
    Step,
    Verify,
    apply_step,
    begin_rollback,
    complete,
)
from titan_deploy.core.rotation.steps import spec_files
from titan_deploy.errors import EXIT_FINDINGS, RuntimeFailure, TitanError

CRASH_AFTER_STEP = "TITAN_DEPLOY_CRASH_AFTER_STEP"
CRASH_MID_WRITE = "TITAN_DEPLOY_CRASH_MID_WRITE"


class StepFailed(TitanError):
    """A step did not achieve what it must (exit 1 once rolled back)."""

    exit_code = EXIT_FINDINGS


class NothingDeployed(StepFailed):
    """A verify or a required log proof found no container to prove anything on. Forward, that is
    a failure (no success without proof); while rolling back it is a note (restoring the old
    version needs no proof, and a rollback must be able to finish on a stack that is down)."""


class RollbackFailed(RuntimeFailure):
    """A rollback step failed: the journal keeps the rollback for `rotate abort` (exit 3)."""


class Effects(Protocol):
    """What the steps do to the world. Each method is idempotent and returns a short note."""

    def write_version(self, step: Step, journal: Journal) -> str: ...
    def repoint(self, step: Repoint, journal: Journal) -> str: ...
    def verify(self, step: Verify) -> str: ...
    def provision(self, step: Provision) -> str: ...
    def check_log(self, step: CheckLog) -> str: ...
    def probe(self, step: Probe) -> str: ...
    def sync_base(self, step: Step) -> str: ...
    def remove_versions(self, step: Step, journal: Journal) -> str: ...
    def guard_snapshot(self) -> authguard.Snapshot | None: ...


@dataclass
class Hooks:
    """Crash injection (tests) and the clock. The defaults read the hidden env vars."""

    after_step: Callable[[str, int], None] = field(default=lambda mode, n: _env_crash(mode, n))
    mid_write: Callable[[Path], None] = field(default=lambda tmp: _env_crash_write(tmp))
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    sleep: Callable[[float], None] = time.sleep


def _unscrubbed(text: str) -> str:
    return text


@dataclass
class Settings:
    threshold: int = 0
    settle: float = 2.0  # seconds of traffic after a Verify saw all healthy before the guard reads
    guard: bool = True
    finish_after_hours: float | None = None
    # Every piece of text from outside the tool (an effect's error or note: compose's stderr,
    # psql, the engine) goes through this before it reaches the journal, a progress line or a
    # report. ops/rotate/command.py passes a Redactor (every secret value known to the run).
    redact: Callable[[str], str] = _unscrubbed


@dataclass
class Outcome:
    journal: Journal
    status: str  # "completed" | "rolled back"
    reason: str | None = None
    auth_failures: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    forward_steps: tuple[Step, ...] = ()
    rollback_steps: tuple[Step, ...] = ()
    # the forward run failed because no consumer container was deployed (NothingDeployed):
    # nothing in use changed, so a summary must not say consumers were put back
    nothing_deployed: bool = False


def execute(
    journal: Journal,
    effects: Effects,
    save: Callable[[Journal], None],
    manifest: Any,
    settings: Settings,
    progress: Callable[[str], None] = lambda _: None,
    hooks: Hooks | None = None,
) -> Outcome:
    """Run the active procedure to its end (forward, or its rollback if a step fails)."""
    hooks = hooks or Hooks()
    scrub = settings.redact
    assert journal.active is not None
    watched = settings.guard
    baseline = None
    if watched:
        try:
            baseline = _snapshot(effects, journal, watched, progress, scrub)
        except StepFailed as exc:
            first = journal.active
            assert first is not None
            if first.mode == "forward" and first.done == 0 and first.in_progress is None:
                journal.active = None  # nothing happened yet: the rotation never started
                save(journal)
                raise RuntimeFailure(f"{scrub(str(exc))}; nothing was changed") from None
            raise RuntimeFailure(
                f"{scrub(str(exc))}; fix it, then `titan-deploy rotate resume` or `rotate abort`"
            ) from None
    total_failures = 0.0
    nothing_deployed = False
    while True:
        active = journal.active
        assert active is not None
        if active.done >= len(active.steps):
            break
        index = active.done
        step = active.steps[index]
        active.in_progress = index
        journal.assignments = apply_step(journal.assignments, step)
        save(journal)
        label = "rollback " if active.mode == "rollback" else ""
        shown = step.describe(spec_files(active.specs))
        progress(f"[{label}{index + 1}/{len(active.steps)}] {shown}")
        started = time.monotonic()
        change = None
        try:
            note = scrub(_dispatch(step, effects, journal))
            if watched and _touches_stack(step):
                if isinstance(step, Verify) and settings.settle > 0:
                    settle(effects, settings.settle, hooks.sleep)
                after = _snapshot(effects, journal, watched, progress, scrub)
                if baseline is not None and after is not None:
                    change = authguard.increase(baseline, after)
                    baseline = after
                    total_failures += change.total
                    if authguard.tripped(change, settings.threshold) and active.mode == "forward":
                        raise StepFailed(
                            f"{_metric(manifest)} rose during step {index + 1} "
                            f"({change.describe()}; threshold {settings.threshold})"
                        )
        except TitanError as exc:
            seconds = round(time.monotonic() - started, 2)
            error = scrub(str(exc))  # before it reaches the journal, a progress line or a report
            active.log.append(_entry(active.mode, index, step, seconds, f"FAILED: {error}", change))
            if active.mode == "rollback":
                active.in_progress = index
                save(journal)
                raise RollbackFailed(
                    f"rollback step {index + 1} ({step.action}) failed: {error}. The journal "
                    "keeps the rollback: fix the cause, then run `titan-deploy rotate abort`"
                ) from None
            if step.cleanup:
                save(journal)
                raise RuntimeFailure(
                    f"cleanup step {index + 1} ({step.action}) failed: {error}; the rotation "
                    "itself is complete: fix the cause, then `titan-deploy rotate resume`"
                ) from None
            nothing_deployed = isinstance(exc, NothingDeployed)
            progress(f"step {index + 1} failed: {error}; rolling back")
            journal.active = begin_rollback(manifest, journal, reason=error).active
            save(journal)
            continue
        seconds = round(time.monotonic() - started, 2)
        active.log.append(_entry(active.mode, index, step, seconds, note, change))
        active.done = index + 1
        active.in_progress = None
        save(journal)
        progress(f"  {note} ({seconds:.1f}s)")
        hooks.after_step(active.mode, index + 1)
    active = journal.active
    assert active is not None
    status = "rolled back" if active.mode == "rollback" else "completed"
    reason, log = active.reason, list(active.log)
    if active.mode == "rollback":
        forward, rollback = active.forward_steps, active.steps
    else:
        forward, rollback = active.steps, ()
    finished = complete(journal, hooks.now(), settings.finish_after_hours)
    journal.assignments, journal.active = finished.assignments, finished.active
    journal.pending, journal.history = finished.pending, finished.history
    save(journal)
    return Outcome(
        journal, status, reason, total_failures, log, forward, rollback, nothing_deployed
    )


def _dispatch(step: Step, effects: Effects, journal: Journal) -> str:
    try:
        return _run_step(step, effects, journal)
    except NothingDeployed as exc:
        if journal.active is not None and journal.active.mode == "rollback":
            return f"nothing to prove it on ({exc})"
        raise


def _run_step(step: Step, effects: Effects, journal: Journal) -> str:
    action = step.action
    if action == "write-version":
        return effects.write_version(step, journal)
    if action == "repoint":
        return effects.repoint(step, journal)  # type: ignore[arg-type]
    if action == "verify":
        return effects.verify(step)  # type: ignore[arg-type]
    if action == "provision":
        return effects.provision(step)  # type: ignore[arg-type]
    if action == "check-log":
        return effects.check_log(step)  # type: ignore[arg-type]
    if action == "probe":
        return effects.probe(step)  # type: ignore[arg-type]
    if action == "sync-base":
        return effects.sync_base(step)
    if action == "remove-versions":
        return effects.remove_versions(step, journal)
    raise RuntimeFailure(f"unknown step {action}")  # pragma: no cover


def settle_left(effects: Any, settle: float) -> float:
    """Seconds to wait after a verify step before the guard reads: the settle window (traffic
    the guard must see on the new version) runs from the moment that verify saw every service
    healthy (`effects.healthy_since`, time.monotonic()), so the verify's own reads count
    towards it (issue 15); the whole window when the effects do not say."""
    since = getattr(effects, "healthy_since", None)
    if since is None:
        return settle
    return min(settle, max(0.0, settle - (time.monotonic() - since)))


SETTLE_POLL = 0.25  # seconds between two reads of the traffic counter in the settle window


def settle(effects: Any, window: float, sleep: Callable[[float], None]) -> None:
    """Wait out the settle window after a verify step (`settle_left`), or less: with the
    guard's `settle_on` counter (`effects.traffic_snapshot()`), until every container at the
    guard's endpoints served SETTLE_COUNT more of it than when the window's wait began, read
    every SETTLE_POLL seconds. Never longer than the window. Raises what the reads raise
    (StepFailed: a counter that cannot be read)."""
    left = settle_left(effects, window)
    read: Callable[[], authguard.Snapshot | None] | None = getattr(
        effects, "traffic_snapshot", None
    )
    start = read() if read is not None and left > 0 else None
    if read is None or start is None:
        sleep(left)
        return
    deadline = time.monotonic() + left
    while (wait := deadline - time.monotonic()) > 0:
        sleep(min(SETTLE_POLL, wait))
        if authguard.flowed(start, read() or {}):
            return


def _touches_stack(step: Step) -> bool:
    return isinstance(step, Repoint | Verify | Provision | CheckLog | Probe)


def _snapshot(effects, journal, watched, progress, scrub) -> authguard.Snapshot | None:
    active = journal.active
    try:
        return effects.guard_snapshot()
    except TitanError as exc:
        if active is not None and active.mode == "rollback":
            progress(f"guard: {scrub(str(exc))} (ignored while rolling back)")
            return None
        raise StepFailed(f"auth-failure guard: {scrub(str(exc))}") from None


def _metric(manifest: Any) -> str:
    guard = getattr(manifest, "auth_guard", None)
    return " or ".join(guard.metrics) if guard else "auth_failures_total"


def _entry(mode, index, step, seconds, note, change) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "mode": mode,
        "step": index + 1,
        "action": step.action,
        "seconds": seconds,
        "note": note,
    }
    if change is not None:
        entry["auth_failures"] = change.total
    return entry


# --- crash injection (tests only) ----------------------------------------------------------------


def _env_crash(mode: str, n: int) -> None:
    wanted = os.environ.get(CRASH_AFTER_STEP)
    if not wanted:
        return
    label = str(n) if mode == "forward" else f"rollback:{n}"
    if wanted == label:
        os.kill(os.getpid(), signal.SIGKILL)


def _env_crash_write(tmp: Path) -> None:
    wanted = os.environ.get(CRASH_MID_WRITE)
    if wanted and wanted in tmp.name:
        os.kill(os.getpid(), signal.SIGKILL)
