"""What a rotation procedure is: its plan, its rollback, its effect on the journal when done.

Each procedure is one module beside this one (hmac.py, db.py, exchange.py) that defines a
`Procedure` value; procedures/__init__.py lists them in `PROCEDURES`, the one table the journal
codec, the rollback and `complete` look a procedure up in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.rotation.journal import Active, PendingPhase2
from titan_deploy.core.rotation.plan import Plan
from titan_deploy.core.rotation.steps import Assignments, Change, Repoint, Step, current

# (active procedure, the journal's pending phase 2s, now, finish_after_hours) ->
# (the history outcome, the pending phase 2s once the procedure completed forward)
OnComplete = Callable[
    [Active, Mapping[str, PendingPhase2], datetime, float | None],
    tuple[str, dict[str, PendingPhase2]],
]


def completed(
    active: Active,
    pending: Mapping[str, PendingPhase2],
    now: datetime,
    finish_after_hours: float | None,
) -> tuple[str, dict[str, PendingPhase2]]:
    """The default on-complete: outcome "completed", the pending phase 2s unchanged."""
    return "completed", dict(pending)


@dataclass(frozen=True)
class Undo:
    """What a procedure's rollback is computed from: the manifest with the journal's frozen
    entries, the procedure's secrets, the assignments before it (`initial`) and as the journal
    holds them now (`now`), and the steps it reached (done or started)."""

    manifest: Manifest
    secrets: tuple[str, ...]
    initial: Assignments
    now: Assignments
    reached: tuple[Step, ...]

    def differs(self, service: str) -> bool:
        """Whether `service` uses another assignment of any of the secrets than before."""
        return any(
            current(self.now, s, service) != current(self.initial, s, service)
            for s in self.secrets
            if self.manifest.secrets[s].consumer(service)
        )

    def back(self, services: Iterable[str]) -> Repoint:
        """The Repoint that gives these services their assignments from before."""
        return Repoint(
            tuple(
                Change(service, s, current(self.initial, s, service))
                for service in services
                for s in self.secrets
                if self.manifest.secrets[s].consumer(service)
            )
        )


@dataclass(frozen=True)
class Procedure:
    """One rotation procedure.

    name         its name in the journal (`procedure`) and in `rotate status`
    plan         its plan function (arguments differ per procedure; the ops command calls it)
    rollback     the steps that take every service it touched back to `Undo.initial`, in the
                 procedure's order (the versions it wrote are removed after them, for every
                 procedure alike: procedures/__init__.rollback_steps)
    on_complete  what finishing it forward does to the journal's pending phase 2s, and the
                 outcome its history record says
    """

    name: str
    plan: Callable[..., Plan]
    rollback: Callable[[Undo], list[Step]]
    on_complete: OnComplete = completed
