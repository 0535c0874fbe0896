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

from titan_deploy.core.findings import Report, warning
from titan_deploy.core.rotation import (
    ManifestConflict,
    begin_rollback,
    effective_manifest,
    finish_refusal,
    manifest_changes,
    resume_refusal,
    rollback_pending,
)
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.runner import execute
from titan_deploy.ops.rotate.session import (
    Progress,
    clean_stale_temps,
    describe_active,
    executor_settings,
    make_effects,
    outcome_report,
    pick_pending,
    run_id,
    save_fn,
    utcnow,
)
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_resume(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    with journal_io.acquire(project, "rotate resume", break_stale=True) as lock:
        journal = journal_io.load(project)
        cleaned = clean_stale_temps(project)
        if journal.active is None:
            report = _nothing(project, "rotate resume", lock, cleaned, journal)
            return report
        refusal = resume_refusal(project.manifest, journal)
        if refusal:
            raise ManifestConflict(refusal)
        changes = manifest_changes(project.manifest, journal.active.specs)
        progress(f"resuming {describe_active(journal.active)}")
        effects = make_effects(project, settings, progress)
        spec = effective_manifest(project.manifest, journal).secrets.get(journal.active.secrets[0])
        outcome = execute(
            journal,
            effects,
            save_fn(project),
            project.manifest,
            executor_settings(project, settings, spec.finish_after_hours if spec else None),
            progress,
        )
        report = outcome_report(project, "rotate resume", outcome)
        _note_lock(report, lock, cleaned)
        _note_changes(report, changes)
        what = f"{report.data.get('procedure')} of {', '.join(report.data.get('secrets') or [])}"
        if outcome.status == "completed":
            report.summary = f"resumed and completed the {what} rotation"
            if report.data.get("phase2_allowed_at"):
                report.summary += (
                    f"; phase 2 (`rotate hmac --finish`) allowed from "
                    f"{report.data['phase2_allowed_at']}"
                )
        else:
            report.summary = f"the {what} rotation was rolled back: {outcome.reason}"
        return report


def run_abort(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    with journal_io.acquire(project, "rotate abort", break_stale=True) as lock:
        journal = journal_io.load(project)
        cleaned = clean_stale_temps(project)
        changes: list[str] = []
        if journal.active is not None:
            changes = manifest_changes(project.manifest, journal.active.specs)
            journal.active = begin_rollback(
                project.manifest, journal, reason="aborted by the operator"
            ).active
        elif journal.pending:
            name = pick_pending(journal, settings.secret)
            rolled = rollback_pending(
                project.manifest,
                journal,
                name,
                run_id("hmac-abort", utcnow()),
                utcnow(),
                reason="aborted by the operator after phase 1",
            )
            journal.active, journal.pending = rolled.active, rolled.pending
            changes = manifest_changes(project.manifest, journal.active.specs)
        else:
            return _nothing(project, "rotate abort", lock, cleaned, journal)
        save = save_fn(project)
        effects = make_effects(project, settings, progress)
        save(journal)
        progress(f"aborting: {describe_active(journal.active)}")
        outcome = execute(
            journal, effects, save, project.manifest, executor_settings(project, settings), progress
        )
        report = outcome_report(project, "rotate abort", outcome, rolled_back_is_ok=True)
        _note_lock(report, lock, cleaned)
        _note_changes(report, changes)
        what = f"{report.data.get('procedure')} of {', '.join(report.data.get('secrets') or [])}"
        report.summary = f"aborted: the {what} rotation is rolled back to the keys before it"
        return report


def _nothing(project, command, lock, cleaned, journal) -> Report:
    report = Report(command)
    report.data = {"outcome": "nothing to do", "pending": sorted(journal.pending)}
    _note_lock(report, lock, cleaned)
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


def _note_changes(report: Report, changes: list[str]) -> None:
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


def _note_lock(report: Report, lock, cleaned: list[str]) -> None:
    if lock.broke is not None:
        report.findings.append(warning("R012", journal_io.broke_message(lock.broke)))
        report.data["broke_stale_lock_of_pid"] = lock.broke.pid
        report.data["broke_stale_lock"] = True
    if cleaned:
        report.data["removed_temp_files"] = cleaned
