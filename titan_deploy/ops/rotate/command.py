"""The one run every rotate command shares: dry run | lock -> journal -> plan -> execute -> report.

A command module says only what is its own, as a `Command`: how it plans from the journal (a
new rotation: hmac, hmac --finish, db, exchange) or how it takes over the journal's rotation
(resume, abort), and the summary of its outcome. `run` does the rest, in this order:

- dry run: load the journal, refuse while a rotation is in flight, plan, report the plan and
  its rollback; no lock, nothing written.
- a new rotation: take the lock, load the journal, refuse while one is in flight, plan, resolve
  the effects (engine, compose files: fail before anything is journaled), remove temp files a
  crash left, journal the plan, execute it (runner.py), report.
- resume / abort: take the lock (breaking a stale one), load the journal, remove temp files,
  take over the rotation in flight (nothing in flight: say so), resolve the effects, journal
  the takeover, execute, report with the notes on the lock and the manifest's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import (
    Journal,
    Plan,
    effective_manifest,
    manifest_changes,
    start,
)
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.report import (
    dry_run_report,
    note_changes,
    note_lock,
    nothing_report,
    outcome_report,
)
from titan_deploy.ops.rotate.runner import Hooks, Outcome, Settings, execute
from titan_deploy.ops.rotate.session import (
    Progress,
    Redactor,
    clean_stale_temps,
    describe_active,
    refuse_if_active,
    run_id,
    save_fn,
    utcnow,
)
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


@dataclass(frozen=True)
class Command:
    """What one rotate command adds to the shared run (not to be confused with a rotation
    procedure of the core, core.rotation.procedures: the steps, rollback and on-complete).

    Exactly one of `plan` (a new rotation: its plan from the journal, raising Refused,
    ManifestConflict or UsageError to refuse) and `take_over` (resume, abort: the journal whose
    rotation to run, or None when nothing is in flight). `summary` words the outcome (it may add
    findings or data to the report); `inputs` are values only in memory (new exchange keys)."""

    name: str  # as the reports and the lock name it: "rotate hmac"
    summary: Callable[[Report, Outcome], str]
    plan: Callable[[Journal], Plan] | None = None
    take_over: Callable[[Journal], Journal | None] | None = None
    announce: str = ""  # take_over: the progress line's verb ("resuming", "aborting:")
    inputs: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    rolled_back_is_ok: bool = False  # abort: a rollback is what was asked for (exit 0)


def run(
    project: Project,
    command: Command,
    settings: RotateSettings,
    progress: Progress = lambda _: None,
) -> Report:
    """Run `command` (or, with settings.dry_run, report its plan) and return its report.

    Raises Refused (exit 1), ManifestConflict/UsageError (exit 2), RuntimeFailure (exit 3: the
    lock is held, the engine does not answer, a rollback step failed)."""
    if settings.dry_run:
        return _dry_run(project, command)
    taking_over = command.take_over is not None
    with journal_io.acquire(project, command.name, break_stale=taking_over) as lock:
        journal = journal_io.load(project)
        cleaned = clean_stale_temps(project) if taking_over else []
        if command.take_over is not None:
            ready = command.take_over(journal)
        else:
            ready = _start(project, command, journal)
        if ready is None:
            return nothing_report(project, command.name, lock, cleaned, journal)
        assert ready.active is not None
        if command.announce:
            progress(f"{command.announce} {describe_active(ready.active)}")
        effects = make_effects(project, settings, progress, command.inputs)
        if not taking_over:
            clean_stale_temps(project)
        save = save_fn(project)
        if ready is not journal:
            save(ready)
        changes = manifest_changes(project.manifest, ready.active.specs) if taking_over else []
        chosen = executor_settings(project, settings, ready, command.inputs)
        outcome = execute(ready, effects, save, project.manifest, chosen, progress)
        report = outcome_report(
            project, command.name, outcome, rolled_back_is_ok=command.rolled_back_is_ok
        )
        if taking_over:
            note_lock(report, lock, cleaned)
            note_changes(report, changes)
        report.summary = command.summary(report, outcome)
        return report


def _dry_run(project: Project, command: Command) -> Report:
    assert command.plan is not None, f"{command.name} has no dry run"
    journal = journal_io.load(project)
    refuse_if_active(journal, project.manifest)
    return dry_run_report(project, command.plan(journal), command.name)


def _start(project: Project, command: Command, journal: Journal) -> Journal:
    assert command.plan is not None
    refuse_if_active(journal, project.manifest)
    plan = command.plan(journal)
    now = utcnow()
    return start(plan, journal, run_id(plan.procedure, now), now)


def executor_settings(
    project: Project,
    chosen: RotateSettings,
    journal: Journal,
    inputs: Mapping[str, bytes] | None = None,
) -> Settings:
    """The runner's settings: the guard's threshold (the operator's, else the manifest's, else
    0), the settle time, phase 2's minimum age (the rotated secret's finish_after_hours, as the
    journal froze it) and the redactor of this run (every secret file, plus `inputs`)."""
    guard = project.manifest.auth_guard
    threshold = chosen.threshold
    if threshold is None:
        threshold = guard.threshold if guard else 0
    assert journal.active is not None
    manifest = effective_manifest(project.manifest, journal)
    spec = manifest.secrets.get(journal.active.secrets[0])
    return Settings(
        threshold=threshold,
        settle=chosen.settle,
        guard=guard is not None,
        finish_after_hours=spec.finish_after_hours if spec else None,
        redact=Redactor(project, (inputs or {}).values()),
    )


def make_effects(
    project: Project,
    chosen: RotateSettings,
    progress: Progress,
    inputs: Mapping[str, bytes] | None = None,
):
    """The StackEffects of a run, connected (engine, compose files) so that a run fails before
    it journals anything. Raises ConfigError (exit 2) or EngineUnreachable (exit 3)."""
    from titan_deploy.ops.rotate.effects import StackEffects

    kind = StackEffects
    if project.swarm:  # README "Several hosts"
        from titan_deploy.ops.rotate.swarm_effects import SwarmEffects

        kind = SwarmEffects
    else:
        from titan_deploy.ops.agent_stack import uses_agent

        if uses_agent(project):  # README "Secrets managers": versions in the backend
            from titan_deploy.ops.rotate.agent_effects import AgentEffects

            kind = AgentEffects
    return kind(
        project,
        timeout=chosen.timeout,
        stop_timeout=chosen.stop_timeout,
        log_timeout=chosen.log_timeout,
        inputs=inputs,
        mid_write=Hooks().mid_write,
        progress=progress,
    ).connect()
