"""Rotation as data (ARCHITECTURE.md "The rotation core"): plans, rollbacks and the journal, pure
functions of the manifest and the journal. Nothing here touches the disk, the engine or the clock
(times are parameters), so every plan, every rollback and every crash point is unit-tested as data;
the executor and the commands are in ops/rotate/, the journal file and the lock in io/journal.py.

Where things are:
- steps.py           the step values (WriteVersion, Repoint, ...), their descriptions, apply_step(s)
- plan.py            the Plan value; which secret a command rotates; versions, roles, snapshot
- procedures/        one module per procedure (hmac.py: hmac + hmac-finish, db.py, exchange.py,
                     restart.py):
                     plan, rollback, on-complete, as a `Procedure`; the `PROCEDURES` table and the
                     shared rollback (rollback_steps) in procedures/__init__.py
- journal.py         the journal as typed values (Journal, Active, PendingPhase2, HistoryRecord)
- transitions.py     start, begin_rollback, rollback_pending, complete: journal -> journal
- manifestchange.py  the journal against a changed manifest (frozen entries, refusals)
- codec.py           all of it to and from the JSON the journal file holds

Once a cleanup step has started a procedure is past its point of no return: it can only be
resumed. This module re-exports the names other modules use.
"""

from __future__ import annotations

from titan_deploy.core.rotation.codec import (
    active_from_dict,
    active_to_dict,
    assignment_from_dict,
    assignment_to_dict,
    assignments_from_dict,
    assignments_to_dict,
    history_from_dict,
    history_to_dict,
    journal_from_dict,
    journal_to_dict,
    pending_from_dict,
    pending_to_dict,
    spec_from_dict,
    spec_to_dict,
    step_from_dict,
    step_to_dict,
)
from titan_deploy.core.rotation.journal import (
    HISTORY_KEPT,
    Active,
    HistoryRecord,
    Journal,
    PendingPhase2,
    iso,
    parse_iso,
    phase2_allowed_at,
)
from titan_deploy.core.rotation.manifestchange import (
    ManifestConflict,
    conflicts,
    effective_manifest,
    finish_refusal,
    manifest_changes,
    only_cleanup_left,
    resume_refusal,
    with_specs,
)
from titan_deploy.core.rotation.plan import (
    Plan,
    find_secret,
    next_version,
    parse_version_files,
    roles,
    snapshot,
    versions_in_use,
)
from titan_deploy.core.rotation.procedures import PROCEDURES, PastPointOfNoReturn, rollback_steps
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.procedures.db import plan_db
from titan_deploy.core.rotation.procedures.exchange import plan_exchange
from titan_deploy.core.rotation.procedures.hmac import new_key_id, plan_hmac, plan_hmac_finish
from titan_deploy.core.rotation.procedures.nats import find_config, plan_nats
from titan_deploy.core.rotation.procedures.restart import plan_restart, restart_spec
from titan_deploy.core.rotation.steps import (
    STEP_TYPES,
    Assignments,
    Change,
    CheckLog,
    Probe,
    Provision,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
    apply_step,
    apply_steps,
    current,
)
from titan_deploy.core.rotation.transitions import (
    begin_rollback,
    complete,
    rollback_pending,
    start,
)

__all__ = [
    "HISTORY_KEPT",
    "PROCEDURES",
    "STEP_TYPES",
    "Active",
    "Assignments",
    "Change",
    "CheckLog",
    "HistoryRecord",
    "Journal",
    "ManifestConflict",
    "PastPointOfNoReturn",
    "PendingPhase2",
    "Plan",
    "Probe",
    "Procedure",
    "Provision",
    "RemoveVersions",
    "Repoint",
    "Step",
    "SyncBase",
    "Undo",
    "Verify",
    "WriteVersion",
    "active_from_dict",
    "active_to_dict",
    "apply_step",
    "apply_steps",
    "assignment_from_dict",
    "assignment_to_dict",
    "assignments_from_dict",
    "assignments_to_dict",
    "begin_rollback",
    "complete",
    "conflicts",
    "current",
    "effective_manifest",
    "find_config",
    "find_secret",
    "finish_refusal",
    "history_from_dict",
    "history_to_dict",
    "iso",
    "journal_from_dict",
    "journal_to_dict",
    "manifest_changes",
    "new_key_id",
    "next_version",
    "only_cleanup_left",
    "parse_iso",
    "parse_version_files",
    "pending_from_dict",
    "pending_to_dict",
    "phase2_allowed_at",
    "plan_db",
    "plan_exchange",
    "plan_hmac",
    "plan_hmac_finish",
    "plan_nats",
    "plan_restart",
    "restart_spec",
    "resume_refusal",
    "roles",
    "rollback_pending",
    "rollback_steps",
    "snapshot",
    "spec_from_dict",
    "spec_to_dict",
    "start",
    "step_from_dict",
    "step_to_dict",
    "versions_in_use",
    "with_specs",
]
