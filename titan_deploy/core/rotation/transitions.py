"""The journal's transitions, pure: a plan accepted, a rollback begun, a pending HMAC phase 1
aborted, a procedure completed. Each takes a Journal and returns the next one; the executor
(ops/rotate/runner.py) saves each before it acts on it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.rotation.journal import HISTORY_KEPT, Active, HistoryRecord, Journal, iso
from titan_deploy.core.rotation.manifestchange import with_specs
from titan_deploy.core.rotation.plan import Plan
from titan_deploy.core.rotation.procedures import PROCEDURES, rollback_steps
from titan_deploy.core.rotation.steps import WriteVersion
from titan_deploy.errors import UsageError


def start(plan: Plan, journal: Journal, run_id: str, now: datetime) -> Journal:
    """The journal once `plan` is accepted (nothing executed yet)."""
    last = dict(journal.last_version)
    for secret, version in plan.new_versions.items():
        last[secret] = max(last.get(secret, 0), version)
    for step in plan.steps:
        if isinstance(step, WriteVersion):
            last[step.secret] = max(last.get(step.secret, 0), step.version)
    active = Active(
        id=run_id,
        procedure=plan.procedure,
        secrets=plan.secrets,
        steps=plan.steps,
        initial=plan.initial,
        started_at=iso(now),
        new_versions=dict(plan.new_versions),
        key_id=plan.key_id,
        old_key_id=plan.old_key_id,
        group=plan.group,
        specs=dict(plan.specs),
    )
    return replace(journal, last_version=last, active=active)


def begin_rollback(manifest: Manifest, journal: Journal, reason: str) -> Journal:
    """Switch the active procedure to its rollback (idempotent if already rolling back),
    computed from the journal's frozen entries over `manifest`. UsageError when nothing is in
    flight; ConfigError / PastPointOfNoReturn as rollback_steps raises them."""
    active = journal.active
    if active is None:
        raise UsageError("no rotation in flight")
    if active.mode == "rollback":
        return journal
    steps = rollback_steps(
        with_specs(manifest, active.specs),
        active.procedure,
        active.secrets,
        active.initial,
        journal.assignments,
        active.reached,
    )
    rolled = replace(
        active,
        mode="rollback",
        forward_steps=active.steps,
        forward_reached=len(active.reached),
        steps=steps,
        done=0,
        in_progress=None,
        reason=reason,
    )
    return replace(journal, active=rolled)


def rollback_pending(
    manifest: Manifest, journal: Journal, secret: str, run_id: str, now: datetime, reason: str
) -> Journal:
    """Abort a completed HMAC phase 1 of `secret` that awaits phase 2: an active `hmac`
    rollback back to the keys before it, removing the versions phase 1 wrote; the secret no
    longer awaits phase 2. KeyError if it does not; errors as rollback_steps."""
    pending = journal.pending[secret]
    written = tuple(WriteVersion(secret, v, "generate") for v in pending.written)
    initial = {s: dict(services) for s, services in pending.initial.items()}
    steps = rollback_steps(
        with_specs(manifest, pending.specs),
        "hmac",
        (secret,),
        initial,
        journal.assignments,
        written,
    )
    active = Active(
        id=run_id,
        procedure="hmac",
        secrets=(secret,),
        steps=steps,
        initial=initial,
        started_at=iso(now),
        mode="rollback",
        new_versions={secret: pending.new_version},
        key_id=pending.key_id,
        old_key_id=pending.old_key_id,
        forward_steps=written,
        forward_reached=len(written),
        reason=reason,
        specs=dict(pending.specs),
    )
    rest = {k: v for k, v in journal.pending.items() if k != secret}
    return replace(journal, active=active, pending=rest)


def complete(journal: Journal, now: datetime, finish_after_hours: float | None = None) -> Journal:
    """The journal once the active procedure (forward or rollback) ran every step: nothing in
    flight, a history record (outcome "completed", "rolled back" or the procedure's own), and
    the pending phase 2s as the procedure's on-complete leaves them (`finish_after_hours`:
    hours before an HMAC phase 2 is allowed; default 24)."""
    active = journal.active
    assert active is not None
    if active.mode == "rollback":
        outcome, pending = "rolled back", dict(journal.pending)
    else:
        on_complete = PROCEDURES[active.procedure].on_complete
        outcome, pending = on_complete(active, journal.pending, now, finish_after_hours)
    record = HistoryRecord(
        id=active.id,
        procedure=active.procedure,
        secrets=active.secrets,
        outcome=outcome,
        started_at=active.started_at,
        finished_at=iso(now),
        versions=dict(active.new_versions),
        key_id=active.key_id,
        reason=active.reason or None,
    )
    history = [*journal.history, record][-HISTORY_KEPT:]
    return replace(journal, active=None, pending=pending, history=history)
