"""The procedures table: a procedure is one `Procedure` value in `PROCEDURES`, and the journal's
codec, its rollback and its completion look a procedure up there and nowhere else."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.paths import REPO
from titan_deploy.core.manifest import load_manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import (
    Journal,
    Plan,
    Repoint,
    Verify,
    WriteVersion,
    active_from_dict,
    active_to_dict,
    begin_rollback,
    complete,
    start,
)
from titan_deploy.core.rotation.journal import Active, PendingPhase2
from titan_deploy.core.rotation.procedures import PROCEDURES
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.steps import Change, Step

M = load_manifest(REPO / "secrets.manifest.yml")
DB = "titan_db_password"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_the_table_holds_every_procedure_under_its_own_name() -> None:
    assert list(PROCEDURES) == ["hmac", "hmac-finish", "db", "exchange", "restart", "nats"]
    for name, procedure in PROCEDURES.items():
        assert isinstance(procedure, Procedure) and procedure.name == name
        assert callable(procedure.plan) and callable(procedure.rollback)


def _plan_one(manifest, secret: str) -> Plan:
    """A procedure that repoints the first consumer of `secret` to v7."""
    service = manifest.secrets[secret].consumers[0].service
    steps = (
        WriteVersion(secret, 7, "generate"),
        Repoint((Change(service, secret, Assignment(7)),)),
        Verify((service,)),
    )
    return Plan("one-by-one", (secret,), steps, {secret: {service: Assignment()}}, {secret: 7})


def _rollback(undo: Undo) -> list[Step]:
    return [undo.back([s for s in undo.initial[undo.secrets[0]] if undo.differs(s)])]


def _on_complete(
    active: Active, pending: dict, now: datetime, hours: float | None
) -> tuple[str, dict[str, PendingPhase2]]:
    return "done one by one", dict(pending)


def test_a_procedure_added_to_the_table_is_journaled_rolled_back_and_completed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unit = Procedure("one-by-one", _plan_one, _rollback, _on_complete)
    monkeypatch.setitem(PROCEDURES, unit.name, unit)
    plan = _plan_one(M, DB)
    journal = start(plan, Journal(), "run", NOW)
    assert active_from_dict(active_to_dict(journal.active)) == journal.active  # codec accepts it
    journal.assignments = {DB: {"postgres": Assignment(7)}}
    journal.active.done = 2
    rolled = begin_rollback(M, journal, "test").active
    assert rolled.steps[0] == Repoint((Change("postgres", DB, Assignment()),))
    journal.active.done = len(plan.steps)
    assert complete(journal, NOW).history[-1].outcome == "done one by one"


def test_the_codec_refuses_a_procedure_not_in_the_table() -> None:
    doc = active_to_dict(start(_plan_one(M, DB), Journal(), "run", NOW).active)
    with pytest.raises(ValueError, match="unknown procedure"):
        active_from_dict(doc)
