"""The rotation procedures, one module each, and the one table they are looked up in.

A new procedure: a module here defining its plan, its rollback and (if finishing it changes more
than the history) its on-complete, as a `Procedure`; one entry in `PROCEDURES`; its command in
ops/rotate/. The journal codec accepts exactly the procedures of this table.
"""

from __future__ import annotations

from collections.abc import Iterable

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.rotation.plan import versions_in_use
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.procedures.db import DB
from titan_deploy.core.rotation.procedures.exchange import EXCHANGE
from titan_deploy.core.rotation.procedures.hmac import HMAC, HMAC_FINISH
from titan_deploy.core.rotation.procedures.nats import NATS
from titan_deploy.core.rotation.procedures.restart import RESTART
from titan_deploy.core.rotation.steps import Assignments, RemoveVersions, Step, WriteVersion
from titan_deploy.errors import ConfigError, UsageError

PROCEDURES: dict[str, Procedure] = {
    p.name: p for p in (HMAC, HMAC_FINISH, DB, EXCHANGE, RESTART, NATS)
}


class PastPointOfNoReturn(UsageError):
    """Cleanup has started: the old value may be gone, so the rotation can only go forward."""


def rollback_steps(
    manifest: Manifest,
    procedure: str,
    secrets: tuple[str, ...],
    initial: Assignments,
    now: Assignments,
    reached: Iterable[Step],
) -> tuple[Step, ...]:
    """How to undo a procedure that got as far as `reached` (steps done or started), from the
    assignments the journal holds `now`: the procedure's own rollback (only services whose
    assignment differs from `initial` are repointed), then the removal of every version it
    wrote that `initial` does not use. Every step is idempotent, so a rollback interrupted by a
    crash is simply run again. `manifest` is the one with the journal's frozen entries.

    Errors: ConfigError when a secret's entry is in neither (an old journal, a removed entry);
    PastPointOfNoReturn (exit 2) once a cleanup step was reached."""
    reached = tuple(reached)
    missing = [s for s in secrets if s not in manifest.secrets]
    if missing:
        raise ConfigError(
            f"the journal of this {procedure} rotation does not record the manifest entry of "
            f"{', '.join(missing)} (it predates titan-deploy's frozen entries) and "
            f"{manifest.path.name} no longer has it: restore that entry in the manifest, then "
            "run `titan-deploy rotate abort` again"
        )
    if any(step.cleanup for step in reached):
        raise PastPointOfNoReturn(
            f"the {procedure} rotation is past its point of no return (cleanup started): "
            "run `titan-deploy rotate resume` to finish it"
        )
    unit = PROCEDURES.get(procedure)
    if unit is None:  # pragma: no cover - procedures are validated when the journal is read
        raise ConfigError(f"unknown rotation procedure {procedure}")
    steps = unit.rollback(Undo(manifest, secrets, initial, now, reached))
    written: dict[str, list[int]] = {}
    for step in reached:
        if isinstance(step, WriteVersion):
            written.setdefault(step.secret, []).append(step.version)
    for secret, versions in written.items():
        keep = versions_in_use(initial, secret)
        gone = tuple(sorted(v for v in versions if v not in keep))
        if gone:
            steps.append(RemoveVersions(secret, gone))
    return tuple(steps)
