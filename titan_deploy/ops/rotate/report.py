"""The reports of the rotate commands: the plan of a dry run, the outcome of a run, the notes
resume and abort add. Values (core.findings.Report), rendered once by the CLI.

Step table columns: n, phase (forward | rollback), action, step, status (planned | done |
FAILED), seconds, note (an effect's note, scrubbed by the run's redactor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from titan_deploy.core.findings import Report, warning
from titan_deploy.core.rotation import (
    Plan,
    Step,
    apply_steps,
    finish_refusal,
    iso,
    phase2_allowed_at,
    rollback_steps,
)
from titan_deploy.core.rotation.steps import Files, spec_files
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.project import Project

STEP_COLUMNS = ["n", "phase", "action", "step", "status", "seconds", "note"]


def plan_rows(
    steps: tuple[Step, ...],
    phase: str,
    log: list[dict[str, Any]] | None = None,
    files: Files | None = None,
) -> list[dict[str, Any]]:
    """One row per step (STEP_COLUMNS). With the procedure's `log`, each row's status, seconds
    and note come from the log entry of that step in that phase; without, all are planned.
    `files`: secret -> its file (`spec_files`), so a step names `db/password.txt.v2`."""
    mode = "rollback" if phase == "rollback" else "forward"
    by_step = {e["step"]: e for e in log or [] if e.get("mode") == mode}
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
                "step": step.describe(files),
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
        "counters": {metric: [s for s, _ in endpoints] for metric, endpoints in guard.counters},
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
    files = spec_files(project.manifest.secrets, plan.specs)
    report.rows = [
        {k: r[k] for k in STEP_COLUMNS[:4]}
        for phase, steps in (("forward", plan.steps), ("rollback", rollback))
        for r in plan_rows(steps, phase, files=files)
    ]
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


def _recreated(steps: Sequence[object]) -> list[str]:
    """The services the forward steps repoint and recreate (the history's `services`)."""
    from titan_deploy.core.rotation.steps import Repoint

    names = [svc for step in steps if isinstance(step, Repoint) for svc in step.services]
    return list(dict.fromkeys(names))


def outcome_report(
    project: Project, command: str, outcome: Outcome, *, rolled_back_is_ok: bool = False
) -> Report:
    """The steps run (forward, then any rollback) with their status, and the data of the
    journal's last record. A rollback fails the report (exit 1) unless `rolled_back_is_ok`
    (abort); the caller words the summary."""
    journal = outcome.journal
    report = Report(command, columns=STEP_COLUMNS)
    record = journal.history[-1] if journal.history else None
    files = project.manifest.files
    report.rows = plan_rows(outcome.forward_steps, "forward", outcome.log, files)
    if outcome.rollback_steps:
        report.rows += plan_rows(outcome.rollback_steps, "rollback", outcome.log, files)
    report.data = {
        "procedure": record.procedure if record else None,
        "secrets": list(record.secrets) if record else None,
        "outcome": outcome.status,
        "reason": outcome.reason,
        "versions": dict(record.versions) if record else None,
        "services": _recreated(outcome.forward_steps),
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


def nothing_report(project: Project, command: str, lock, cleaned: list[str], journal) -> Report:
    """`rotate resume` / `abort` with no rotation in flight (an HMAC phase 1 may await phase 2)."""
    report = Report(command)
    report.data = {"outcome": "nothing to do", "pending": sorted(journal.pending)}
    note_lock(report, lock, cleaned)
    report.summary = "no rotation in flight: nothing to " + command.split()[-1]
    if journal.pending and command.endswith("resume"):
        blocked = [
            s for s in sorted(journal.pending) if finish_refusal(project.manifest, journal, s)
        ]
        report.summary += (
            f" (HMAC phase 1 of {', '.join(sorted(journal.pending))} awaits phase 2: "
            + (
                "the manifest changed since, so `titan-deploy rotate abort` undoes it; see "
                "`rotate status`)"
                if blocked
                else "`titan-deploy rotate hmac --finish`)"
            )
        )
    return report


def note_changes(report: Report, changes: list[str]) -> None:
    """Say that the rotation ran from the journal although the manifest changed since."""
    if not changes:
        return
    report.findings.append(
        warning(
            "R013",
            "the manifest changed since this rotation was planned ("
            + "; ".join(changes)
            + "): it ran from the journal as planned; the manifest's changes take effect at the "
            "next `titan-deploy up`",
        )
    )
    report.data["manifest_changes"] = changes


def note_lock(report: Report, lock, cleaned: list[str]) -> None:
    """Say that a stale lock was broken and which temp files a crash left were removed."""
    if lock.broke is not None:
        report.findings.append(warning("R012", journal_io.broke_message(lock.broke)))
        report.data["broke_stale_lock_of_pid"] = lock.broke.pid
        report.data["broke_stale_lock"] = True
    if cleaned:
        report.data["removed_temp_files"] = cleaned


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
