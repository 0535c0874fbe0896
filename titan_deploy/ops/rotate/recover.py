"""`rotate resume` and `rotate abort`: finish or undo what a crash (or a failure) left.

Both break a stale lock (its holder is dead) and say so; neither breaks a live one. resume
re-runs the interrupted step and continues (a procedure in rollback mode continues its
rollback); it refuses (exit 2, naming each change) a forward procedure whose secrets changed in
the manifest since it was planned (core.rotation.resume_refusal). abort always runs: it undoes
from the journal alone (the entries frozen at plan time), whatever the manifest says now.
abort switches a forward procedure to its rollback — signers back to the old key
first, then listeners — or undoes a completed HMAC phase 1 that awaits phase 2.
"""

from __future__ import annotations

from dataclasses import replace

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import (
    Journal,
    ManifestConflict,
    begin_rollback,
    resume_refusal,
    rollback_pending,
)
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import Progress, pick_pending, run_id, utcnow
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_resume(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    """Finish the rotation in flight from its journal. ManifestConflict (exit 2) when its
    secrets changed in the manifest since it was planned (abort still runs)."""

    def take_over(journal: Journal) -> Journal | None:
        if journal.active is None:
            return None
        refusal = resume_refusal(project.manifest, journal)
        if refusal:
            raise ManifestConflict(refusal)
        return journal

    def summary(report: Report, outcome: Outcome) -> str:
        what = _what(report)
        if outcome.status != "completed":
            return f"the {what} rotation was rolled back: {outcome.reason}"
        allowed = report.data.get("phase2_allowed_at")
        later = f"; phase 2 (`rotate hmac --finish`) allowed from {allowed}" if allowed else ""
        return f"resumed and completed the {what} rotation{later}"

    command = Command("rotate resume", summary, take_over=take_over, announce="resuming")
    return run(project, command, settings, progress)


def run_abort(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    """Roll back the rotation in flight, or the completed HMAC phase 1 that awaits phase 2
    (settings.secret names it when several await), from the journal alone."""

    def take_over(journal: Journal) -> Journal | None:
        if journal.active is not None:
            rolled = begin_rollback(project.manifest, journal, reason="aborted by the operator")
            return replace(journal, active=rolled.active)
        if not journal.pending:
            return None
        rolled = rollback_pending(
            project.manifest,
            journal,
            pick_pending(journal, settings.secret),
            run_id("hmac-abort", utcnow()),
            utcnow(),
            reason="aborted by the operator after phase 1",
        )
        return replace(journal, active=rolled.active, pending=rolled.pending)

    def summary(report: Report, outcome: Outcome) -> str:
        return f"aborted: the {_what(report)} rotation is rolled back to the keys before it"

    command = Command(
        "rotate abort", summary, take_over=take_over, announce="aborting:", rolled_back_is_ok=True
    )
    return run(project, command, settings, progress)


def _what(report: Report) -> str:
    return f"{report.data.get('procedure')} of {', '.join(report.data.get('secrets') or [])}"
