"""`rotate status`: the journal as an operator reads it (README "5. Watching it").

What is in flight (procedure, mode, step n of N, the step that was running when it stopped),
which HMAC phase 1s await phase 2 and from when phase 2 is allowed, who holds the lock (alive or
stale), which version each consumer uses, and the last rotations. Read-only: no lock taken.
"""

from __future__ import annotations

from datetime import datetime

from titan_deploy.core.findings import Finding, Report, warning
from titan_deploy.core.rotation import (
    Journal,
    active_to_dict,
    assignments_to_dict,
    conflicts,
    finish_refusal,
    history_to_dict,
    iso,
    manifest_changes,
    pending_to_dict,
    phase2_allowed_at,
    resume_refusal,
)
from titan_deploy.core.rotation.steps import spec_files
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.report import plan_rows, scrub_report
from titan_deploy.ops.rotate.session import Redactor, describe_active, utcnow
from titan_deploy.project import Project

COLUMNS = ["what", "detail"]


def run_status(project: Project, now: datetime | None = None) -> Report:
    now = now or utcnow()
    journal = journal_io.load(project)
    lock = journal_io.lock_path(project)
    holder = journal_io.read_holder(lock)
    report = Report("rotate status", columns=COLUMNS)
    rows = report.rows
    findings: list[Finding] = report.findings
    holder_alive = holder is not None and (holder.alive or journal_io.being_acquired(lock, holder))
    if holder is not None:
        if holder.alive:
            rows.append({"what": "lock", "detail": f"held by {holder.describe()}"})
        elif journal_io.being_acquired(lock, holder):
            rows.append({"what": "lock", "detail": "being taken by a rotation that is starting"})
        else:
            findings.append(
                warning("R010", journal_io.stale_message(lock, holder), fix="rotate resume")
            )
            why = (
                "the lock holds no valid pid"
                if holder.pid is None
                else f"pid {holder.pid} is not running"
            )
            rows.append({"what": "lock", "detail": f"STALE: {why}"})
    active = journal.active
    if active is not None:
        rows.append({"what": "in flight", "detail": describe_active(active)})
        if active.reason:
            rows.append({"what": "rolling back because", "detail": active.reason})
        files = spec_files(project.manifest.secrets, active.specs)
        for row in plan_rows(active.steps, active.mode, active.log, files):
            n = row["n"] - 1
            status = "done" if n < active.done else "planned"
            if active.in_progress == n:
                status = "INTERRUPTED (re-run by resume)"
            rows.append({"what": f"  {active.mode} step {row['n']}", "detail": _line(row, status)})
        refusal = resume_refusal(project.manifest, journal)
        changes = manifest_changes(project.manifest, active.specs)
        if refusal:
            findings.append(warning("R013", refusal, fix="titan-deploy rotate abort"))
        elif changes:
            findings.append(
                warning(
                    "R013",
                    "the manifest changed since this rotation was planned ("
                    + "; ".join(changes)
                    + "): `rotate resume` / `rotate abort` run it from the journal as planned",
                )
            )
        if not holder_alive:
            findings.append(
                warning(
                    "R011",
                    f"a {active.procedure} rotation is unfinished ({active.mode}): "
                    + (
                        "run `titan-deploy rotate abort` to undo it (resume is refused: the "
                        "manifest changed)"
                        if refusal
                        else "run `titan-deploy rotate resume` to finish it or `rotate abort` "
                        "to undo it"
                    ),
                )
            )
    for secret, pending in sorted(journal.pending.items()):
        refusal = finish_refusal(project.manifest, journal, secret)
        if refusal:
            findings.append(
                warning("R013", refusal, secret=secret, fix="titan-deploy rotate abort")
            )
        allowed = phase2_allowed_at(pending)
        when = "now" if now >= allowed else f"from {iso(allowed)} (in {_left(allowed - now)})"
        rows.append(
            {
                "what": f"{secret}: phase 1 done",
                "detail": (
                    f"at {pending.phase1_completed_at}, key id {pending.key_id}; "
                    f"phase 2 (`rotate hmac --finish`) allowed {when}"
                ),
            }
        )
    for secret, services in sorted(journal.assignments.items()):
        for service, a in sorted(services.items()):
            version = "base" if a.version is None else f"v{a.version}"
            extra = f" + previous v{a.secondary}" if a.secondary is not None else ""
            key = f", key id {a.key_id}" if a.key_id else ""
            rows.append({"what": f"{secret} @ {service}", "detail": f"{version}{extra}{key}"})
    for record in journal.history[-5:]:
        rows.append(
            {
                "what": f"history {record.finished_at}",
                "detail": f"{record.procedure} {', '.join(record.secrets)}: {record.outcome}",
            }
        )
    report.data = _data(project, journal, holder, lock, now)
    report.data["manifest_changes"] = conflicts(project.manifest, journal)
    if active is not None:
        report.summary = f"rotation in flight: {describe_active(active)}"
    elif journal.pending:
        report.summary = "HMAC phase 1 done, awaiting phase 2: " + ", ".join(
            f"{s} (allowed from {iso(phase2_allowed_at(p))})"
            for s, p in sorted(journal.pending.items())
        )
    else:
        report.summary = "no rotation in flight"
    return scrub_report(report, Redactor(project).at_once())


def _line(row: dict, status: str) -> str:
    note = f" — {row['note']}" if row.get("note") else ""
    return f"[{status}] {row['step']}{note}"


def _left(delta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def _data(project: Project, journal: Journal, holder, lock, now: datetime) -> dict:
    return {
        "journal": str(journal_io.state_path(project)),
        "lock": journal_io.holder_to_dict(holder, lock),
        "active": active_to_dict(journal.active) if journal.active else None,
        "pending": {
            secret: {
                **{k: v for k, v in pending_to_dict(pending).items() if k != "initial"},
                "phase2_allowed_at": iso(phase2_allowed_at(pending)),
                "phase2_allowed_now": now >= phase2_allowed_at(pending),
            }
            for secret, pending in journal.pending.items()
        },
        "assignments": assignments_to_dict(journal.assignments),
        "history": [history_to_dict(record) for record in journal.history[-10:]],
    }
