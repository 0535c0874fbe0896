"""What every rotate command shares: options, the lock + journal session, the report.

A command reads like a recipe: take the lock -> load the journal -> compute the plan (pure) ->
journal it -> execute (runner) -> report. Reports are values; the CLI renders them once.
"""

from __future__ import annotations

import os
import re
import secrets as _random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from titan_deploy.core import versions
from titan_deploy.core.findings import Report, warning
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.redact import redact
from titan_deploy.core.rotation import (
    Active,
    Journal,
    Plan,
    Step,
    apply_steps,
    effective_manifest,
    iso,
    phase2_allowed_at,
    resume_refusal,
    rollback_steps,
    start,
)
from titan_deploy.errors import EXIT_FINDINGS, TitanError, UsageError
from titan_deploy.io import fs
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.runner import Hooks, Outcome, Settings, execute
from titan_deploy.project import Project

Progress = Callable[[str], None]
STEP_COLUMNS = ["n", "phase", "action", "step", "status", "seconds", "note"]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)$")


class Refused(TitanError):
    """The command ran and refused, for a reason the operator can act on (exit 1)."""

    exit_code = EXIT_FINDINGS


@dataclass
class RotateOptions:
    timeout: int = 180  # seconds to wait for a recreated service to be healthy
    stop_timeout: int | None = None  # seconds a replaced container gets to stop (compose -t)
    settle: float = 2.0  # seconds of traffic before the guard reads the counter after a verify
    threshold: int | None = None  # guard threshold (default: the manifest's, else 0)
    log_timeout: float = 60.0  # exchange: seconds to wait for the verify_log line


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_id(procedure: str, now: datetime) -> str:
    return f"{procedure}-{now.strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(2)}"


class Redactor:
    """Scrubs text from outside the tool of every secret value this run knows (class 9.1).

    Known values: every regular file in the secrets dir — base files, version files, temp files
    — read again at each call (a rotation writes new versions as it goes) and remembered (a
    version removed by the rotation stays known), plus values only in memory (the new exchange
    keys before they are written). core.redact.redact replaces each, raw and encoded. Files
    are read bounded (Docker's secret limit), regular files only."""

    def __init__(self, project: Project, extra: Iterable[bytes] = ()) -> None:
        self.project = project
        self.values: set[bytes] = {v for v in extra if v}

    def __call__(self, text: str) -> str:
        if not text:
            return text
        self.refresh()
        return redact(text, self.values)

    def refresh(self) -> None:
        try:
            directory = self.project.secrets_dir
            entries = list(directory.iterdir()) if directory.is_dir() else []
        except (TitanError, OSError):
            return
        for path in entries:
            try:  # bounded, regular files only: never a FIFO or a device
                self.values.add(fs.read_secret(path))
            except OSError:
                continue


def scrub_report(report: Report, scrub: Callable[[str], str]) -> Report:
    """Every string of the report (summary, rows, findings, data) through `scrub`, in place:
    for reports that show text read back from the journal (it may predate the redactor)."""
    report.summary = scrub(report.summary)
    report.rows = [_scrub_value(row, scrub) for row in report.rows]
    report.findings = [
        replace(f, message=scrub(f.message), fix=scrub(f.fix) if f.fix else f.fix)
        for f in report.findings
    ]
    report.data = _scrub_value(report.data, scrub)
    return report


def _scrub_value(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, scrub) for v in value]
    return value


def settings(
    project: Project,
    options: RotateOptions,
    finish_after_hours=None,
    inputs: dict[str, bytes] | None = None,
) -> Settings:
    """The runner's settings: guard threshold, settle time and the redactor of this run."""
    guard = project.manifest.auth_guard
    threshold = options.threshold
    if threshold is None:
        threshold = guard.threshold if guard else 0
    return Settings(
        threshold=threshold,
        settle=options.settle,
        guard=guard is not None,
        finish_after_hours=finish_after_hours,
        redact=Redactor(project, (inputs or {}).values()),
    )


def make_effects(project: Project, options: RotateOptions, progress: Progress, inputs=None):
    from titan_deploy.ops.rotate.effects import StackEffects

    return StackEffects(
        project,
        timeout=options.timeout,
        stop_timeout=options.stop_timeout,
        log_timeout=options.log_timeout,
        inputs=inputs,
        mid_write=Hooks().mid_write,
        progress=progress,
    )


def save_fn(project: Project) -> Callable[[Journal], None]:
    hooks = Hooks()
    return lambda journal: journal_io.save(project, journal, before_replace=hooks.mid_write)


def refuse_if_active(journal: Journal, manifest: Manifest | None = None) -> None:
    """Refuse (exit 1) to start a rotation while one is in flight, saying what finishes it:
    resume or abort, or only abort when the manifest changed in a way resume refuses."""
    active = journal.active
    if active is not None:
        where = f"step {active.done + 1}/{len(active.steps)}"
        blocked = manifest is not None and resume_refusal(manifest, journal)
        what = (
            "then `rotate abort` (the manifest changed since it started: resume refuses)"
            if blocked
            else "then `rotate resume` or `rotate abort`"
        )
        raise Refused(
            f"a {active.procedure} rotation ({active.id}) is in flight ({active.mode}, {where}): "
            f"run `titan-deploy rotate status`, {what}"
        )


def clean_stale_temps(project: Project) -> list[str]:
    """Remove temp files an interrupted atomic write left (secrets dir and state dir).

    Only fs.atomic_write's own pattern `.<name>.tmp-<pid>`, only for a dead pid: a stale temp
    file of a secret is secret material lying around under a name nothing claims."""
    removed = []
    for directory in (project.secrets_dir, project.state_dir):
        if not directory.is_dir():
            continue
        for entry in sorted(os.listdir(directory)):
            match = _TEMP_RE.match(entry)
            if not match or not _ours(project, match["name"]):
                continue
            pid = int(match["pid"])
            if pid == os.getpid() or journal_io.pid_alive(pid):
                continue
            in_store = directory == project.secrets_dir
            root = project.secrets_root if in_store else project.project_dir
            fs.unlink(directory / entry, root=root)
            removed.append(entry)
    return removed


def _ours(project: Project, name: str) -> bool:
    if name == journal_io.STATE_FILE:
        return True
    if versions.owner(name, project.manifest.secrets) is not None:
        return True
    try:  # a secret the manifest dropped while a rotation of it is in flight
        manifest = effective_manifest(project.manifest, journal_io.load(project))
    except TitanError:
        return False
    return versions.owner(name, manifest.secrets) is not None


def run_plan(
    project: Project,
    command: str,
    make_plan: Callable[[Journal], Plan],
    options: RotateOptions,
    progress: Progress,
    *,
    inputs: dict[str, bytes] | None = None,
    finish_after_hours: float | None = None,
    check: Callable[[Journal], None] | None = None,
) -> tuple[Plan, Outcome]:
    """Lock, plan from the journal, journal the plan, execute it. Returns (plan, outcome)."""
    with journal_io.acquire(project, command):
        journal = journal_io.load(project)
        refuse_if_active(journal, project.manifest)
        if check is not None:
            check(journal)
        plan = make_plan(journal)
        effects = make_effects(project, options, progress, inputs)  # engine first: fail early
        clean_stale_temps(project)
        now = utcnow()
        journal = start(plan, journal, run_id(plan.procedure, now), now)
        save = save_fn(project)
        save(journal)
        outcome = execute(
            journal,
            effects,
            save,
            project.manifest,
            settings(project, options, finish_after_hours, inputs),
            progress,
        )
        return plan, outcome


# --- reports -------------------------------------------------------------------------------------


def plan_rows(steps: tuple[Step, ...], phase: str, log: list[dict[str, Any]] | None = None):
    by_step = {}
    for entry in log or []:
        if entry.get("mode") == ("rollback" if phase == "rollback" else "forward"):
            by_step[entry["step"]] = entry
    rows = []
    for n, step in enumerate(steps, 1):
        entry = by_step.get(n)
        status = "planned"
        if entry is not None:
            status = "FAILED" if str(entry.get("note", "")).startswith("FAILED") else "done"
        rows.append(
            {
                "n": n,
                "phase": phase,
                "action": step.action,
                "step": step.describe(),
                "status": status if log is not None else "planned",
                "seconds": entry.get("seconds") if entry else None,
                "note": entry.get("note") if entry else None,
            }
        )
    return rows


def guard_note(project: Project, report: Report, threshold: int | None = None) -> None:
    """Say what watches the rotation (or that nothing does) in data and, if off, a warning."""
    guard = project.manifest.auth_guard
    if guard is None:
        report.data["guard"] = None
        report.findings.append(
            warning(
                "R002",
                "no auth_guard in the manifest: auth failures are not watched during rotation",
                fix="add auth_guard (metric, endpoints) to the manifest",
            )
        )
        return
    report.data["guard"] = {
        "metric": guard.metric,
        "threshold": guard.threshold if threshold is None else threshold,
        "services": [service for service, _ in guard.endpoints],
    }


def dry_run_report(project: Project, plan: Plan, command: str) -> Report:
    """The plan and the rollback it would take if its last forward step failed."""
    forward = tuple(s for s in plan.steps if not s.cleanup)
    rollback = rollback_steps(
        project.manifest,
        plan.procedure,
        plan.secrets,
        plan.initial,
        apply_steps(plan.initial, forward),
        forward,
    )
    report = Report(command, columns=STEP_COLUMNS[:4])
    report.rows = [
        {k: r[k] for k in STEP_COLUMNS[:4]} for r in plan_rows(plan.steps, "forward")
    ] + [{k: r[k] for k in STEP_COLUMNS[:4]} for r in plan_rows(rollback, "rollback")]
    report.data = {
        "dry_run": True,
        "procedure": plan.procedure,
        "secrets": list(plan.secrets),
        "versions": plan.new_versions,
        "key_id": plan.key_id,
        "steps": len(plan.steps),
        "rollback_steps": len(rollback),
    }
    guard_note(project, report)
    order = ", signers back first" if plan.procedure.startswith("hmac") and rollback else ""
    report.summary = (
        f"dry run: {plan.procedure} of {', '.join(plan.secrets)} takes {len(plan.steps)} steps "
        f"(if it fails, the rollback takes {len(rollback)}{order}); nothing was changed"
    )
    return report


def outcome_report(
    project: Project, command: str, outcome: Outcome, *, rolled_back_is_ok: bool = False
) -> Report:
    journal = outcome.journal
    report = Report(command, columns=STEP_COLUMNS)
    record = journal.history[-1] if journal.history else None
    report.rows = plan_rows(outcome.forward_steps, "forward", outcome.log)
    if outcome.rollback_steps:
        report.rows += plan_rows(outcome.rollback_steps, "rollback", outcome.log)
    report.data = {
        "procedure": record.procedure if record else None,
        "secrets": list(record.secrets) if record else None,
        "outcome": outcome.status,
        "reason": outcome.reason,
        "versions": dict(record.versions) if record else None,
        "key_id": record.key_id if record else None,
        "auth_failures": outcome.auth_failures,
        "journal": str(journal_io.state_path(project)),
    }
    guard_note(project, report)
    secret = record.secrets[0] if record and record.secrets else ""
    pending = journal.pending.get(secret) if record and record.procedure == "hmac" else None
    if pending and outcome.status == "completed":
        report.data["phase2_allowed_at"] = iso(phase2_allowed_at(pending))
    if outcome.status == "rolled back":
        report.failed = not rolled_back_is_ok
        report.findings.append(
            warning(
                "R001",
                f"rolled back: {outcome.reason}" if outcome.reason else "rolled back",
                secret=secret or None,
            )
        )
    return report


def pick_pending(journal: Journal, secret: str | None) -> str:
    if secret:
        if secret not in journal.pending:
            raise UsageError(f"{secret} has no HMAC phase 1 awaiting phase 2")
        return secret
    if len(journal.pending) != 1:
        names = ", ".join(sorted(journal.pending)) or "none"
        raise UsageError(f"name the secret with --secret (awaiting phase 2: {names})")
    return next(iter(journal.pending))


def describe_active(active: Active) -> str:
    n = len(active.steps)
    if active.in_progress is not None:
        where = f"step {active.in_progress + 1}/{n} was running ({active.done} done)"
    else:
        where = f"{active.done}/{n} steps done"
    return f"{active.procedure} ({active.mode}) {active.id}: {where}"
