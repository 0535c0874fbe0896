"""The rotation journal as typed values (ARCHITECTURE.md invariant 6): what `state.json` holds.

`Journal` is the whole document; `Active` the procedure in flight (its steps, how far it got,
what it started from); `PendingPhase2` an HMAC phase 1 awaiting phase 2; `HistoryRecord` a
finished procedure. The transitions between journals are in core/rotation/transitions.py, the
JSON form in core/rotation/codec.py. Times are ISO 8601 strings (`iso`), never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.rotation.steps import Assignments, Step

HISTORY_KEPT = 50  # finished procedures the journal keeps


@dataclass
class Active:
    """The procedure in flight: its steps, how far it got, and what it started from."""

    id: str
    procedure: str
    secrets: tuple[str, ...]
    steps: tuple[Step, ...]
    initial: Assignments
    started_at: str
    mode: str = "forward"  # "forward" | "rollback"
    done: int = 0
    in_progress: int | None = None
    new_versions: dict[str, int] = field(default_factory=dict)
    key_id: str | None = None
    old_key_id: str | None = None
    group: str | None = None
    forward_steps: tuple[Step, ...] = ()  # in rollback mode: the plan being undone
    forward_reached: int = 0  # ... and how many of its steps were reached
    reason: str | None = None  # why a rollback started
    log: list[dict[str, Any]] = field(default_factory=list)
    specs: dict[str, SecretSpec] = field(default_factory=dict)  # frozen at plan time

    @property
    def reached(self) -> tuple[Step, ...]:
        """The steps done, and the one in progress if any (it may have had its effect)."""
        end = self.done if self.in_progress is None else self.in_progress + 1
        return self.steps[:end]


@dataclass(frozen=True)
class PendingPhase2:
    """A completed HMAC phase 1 awaiting phase 2 (`rotate hmac --finish`) or `rotate abort`."""

    id: str  # the run id of phase 1
    phase1_completed_at: str  # ISO 8601, seconds
    finish_after_hours: float  # phase 2 is refused before this many hours (unless --force)
    new_version: int  # the version every consumer uses as its primary key
    written: tuple[int, ...]  # every version phase 1 wrote (an abort removes them)
    key_id: str | None = None
    old_key_id: str | None = None
    initial: Assignments = field(default_factory=dict)  # the assignments before phase 1
    specs: dict[str, SecretSpec] = field(default_factory=dict)  # frozen at plan time

    def allowed_at(self, min_age_hours: float | None = None) -> datetime:
        """When phase 2 is allowed: phase 1's completion plus `min_age_hours` (hours), else
        plus the journaled finish_after_hours. ValueError if the journaled time is not ISO."""
        hours = self.finish_after_hours if min_age_hours is None else min_age_hours
        return parse_iso(self.phase1_completed_at) + timedelta(hours=float(hours))


@dataclass(frozen=True)
class HistoryRecord:
    """One finished procedure, as `rotate status` lists it (the journal keeps the last 50)."""

    id: str
    procedure: str
    secrets: tuple[str, ...]
    outcome: str  # "completed" | "rolled back" | "phase 1 completed"
    started_at: str  # ISO 8601
    finished_at: str  # ISO 8601
    versions: dict[str, int] = field(default_factory=dict)  # the new version of each secret
    key_id: str | None = None
    reason: str | None = None  # why it was rolled back


@dataclass
class Journal:
    """What `state.json` holds: the overlay's assignments, the last version written per secret
    (versions are never reused), the procedure in flight, the HMAC phase 1s awaiting phase 2
    (by secret) and the last finished procedures."""

    assignments: Assignments = field(default_factory=dict)
    last_version: dict[str, int] = field(default_factory=dict)
    active: Active | None = None
    pending: dict[str, PendingPhase2] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)


def phase2_allowed_at(pending: PendingPhase2, min_age_hours: float | None = None) -> datetime:
    """When phase 2 of `pending` is allowed (see PendingPhase2.allowed_at)."""
    return pending.allowed_at(min_age_hours)


def iso(moment: datetime) -> str:
    """`moment` as the journal writes times: ISO 8601 to the second (with its offset)."""
    return moment.isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """The inverse of iso; ValueError if `text` is not ISO 8601."""
    return datetime.fromisoformat(text)
