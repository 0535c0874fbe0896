"""Rotation plans as data (README "Rotation runbook"): literal step lists for every procedure and
its rollback."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tests.paths import REPO
from titan_deploy.core.manifest import Consumer, load_manifest, parse_manifest_text
from titan_deploy.core.overlay import Assignment as A
from titan_deploy.core.rotation import (
    Change,
    CheckLog,
    Journal,
    PastPointOfNoReturn,
    Provision,
    RemoveVersions,
    Repoint,
    SyncBase,
    Verify,
    WriteVersion,
    apply_steps,
    begin_rollback,
    complete,
    effective_manifest,
    find_secret,
    journal_from_dict,
    journal_to_dict,
    manifest_changes,
    next_version,
    parse_version_files,
    phase2_allowed_at,
    plan_db,
    plan_exchange,
    plan_hmac,
    plan_hmac_finish,
    rollback_pending,
    rollback_steps,
    start,
    step_from_dict,
    step_to_dict,
)
from titan_deploy.errors import ConfigError, UsageError

M = load_manifest(REPO / "secrets.manifest.yml")
H = "titan_hmac_secret"
DB = "titan_db_password"
BK, BS = "binance_api_key", "binance_api_secret"
EXE, SEN, BRAIN = "titan-execution", "titan-sentinel", "titan-brain"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def phase1_done() -> dict:
    """The assignments once phase 1 from the base file completed (v1 pinned, v2 new)."""
    return {
        H: {
            BRAIN: A(2, None, "k2-aaaaaa"),
            EXE: A(2, 1, "k2-aaaaaa"),
            SEN: A(2, 1, "k2-aaaaaa"),
        }
    }


# --- hmac ----------------------------------------------------------------------------------------


def test_hmac_phase1_from_the_base_file_pins_the_old_value_first() -> None:
    plan = plan_hmac(M, H, {}, existing=(), key_token="aaaaaa")
    assert plan.steps == (
        WriteVersion(H, 1, "copy", copy_of=None),
        WriteVersion(H, 2, "generate"),
        Repoint((Change(EXE, H, A(2, 1, "k2-aaaaaa")), Change(SEN, H, A(2, 1, "k2-aaaaaa")))),
        Verify((EXE, SEN)),
        Repoint((Change(BRAIN, H, A(2, None, "k2-aaaaaa")),)),
        Verify((BRAIN,)),
    )
    assert plan.key_id == "k2-aaaaaa"
    assert plan.old_key_id is None
    assert plan.new_versions == {H: 2}
    assert plan.initial == {H: {BRAIN: A(), EXE: A(), SEN: A()}}


def test_hmac_phase1_from_a_version_needs_no_pin() -> None:
    state = {H: {s: A(2, None, "k2-aaaaaa") for s in (BRAIN, EXE, SEN)}}
    plan = plan_hmac(M, H, state, existing=(2,), key_token="bbbbbb", last_version=2)
    assert plan.steps == (
        WriteVersion(H, 3, "generate"),
        Repoint((Change(EXE, H, A(3, 2, "k3-bbbbbb")), Change(SEN, H, A(3, 2, "k3-bbbbbb")))),
        Verify((EXE, SEN)),
        Repoint((Change(BRAIN, H, A(3, None, "k3-bbbbbb")),)),
        Verify((BRAIN,)),
    )
    assert plan.old_key_id == "k2-aaaaaa"


def test_hmac_versions_and_key_ids_are_never_reused() -> None:
    # an aborted rotation removed v1/v2, but the journal remembers them: the next one takes v3+
    plan = plan_hmac(M, H, {}, existing=(), key_token="cccccc", last_version=2)
    assert [s.version for s in plan.steps if isinstance(s, WriteVersion)] == [3, 4]
    assert plan.key_id == "k4-cccccc"
    other = plan_hmac(M, H, {}, existing=(), key_token="dddddd", last_version=2)
    assert other.key_id != plan.key_id
    # a stray version file on disk counts too
    assert next_version((7, 3), last=5) == 8


def test_hmac_finish_drops_the_previous_key_then_cleans_up() -> None:
    plan = plan_hmac_finish(M, H, phase1_done(), existing=(1, 2))
    assert plan.steps == (
        Repoint((Change(EXE, H, A(2, None, "k2-aaaaaa")), Change(SEN, H, A(2, None, "k2-aaaaaa")))),
        Verify((EXE, SEN)),
        SyncBase(H, 2),
        RemoveVersions(H, (1,)),
    )


def test_hmac_refuses_to_start_mid_rotation_and_finish_needs_phase1() -> None:
    with pytest.raises(UsageError, match="still accept a previous key"):
        plan_hmac(M, H, phase1_done(), existing=(1, 2), key_token="x")
    with pytest.raises(UsageError, match="no phase 1 to finish"):
        plan_hmac_finish(M, H, {}, existing=())


def test_hmac_phase1_rollback_from_every_point() -> None:
    plan = plan_hmac(M, H, {}, existing=(), key_token="aaaaaa")
    steps = plan.steps

    def rollback(reached: int):
        now = apply_steps(plan.initial, steps[:reached])
        return rollback_steps(M, "hmac", (H,), plan.initial, now, steps[:reached])

    assert rollback(0) == ()
    assert rollback(1) == (RemoveVersions(H, (1,)),)
    assert rollback(2) == (RemoveVersions(H, (1, 2)),)
    listeners_back = (Repoint((Change(EXE, H, A()), Change(SEN, H, A()))), Verify((EXE, SEN)))
    assert rollback(3) == (*listeners_back, RemoveVersions(H, (1, 2)))
    assert rollback(4) == rollback(3)
    signer_back = (Repoint((Change(BRAIN, H, A()),)), Verify((BRAIN,)))
    # signers back to the old key FIRST, then listeners
    assert rollback(5) == (*signer_back, *listeners_back, RemoveVersions(H, (1, 2)))
    assert rollback(6) == rollback(5)


def test_hmac_finish_rollback_returns_to_the_end_of_phase1() -> None:
    plan = plan_hmac_finish(M, H, phase1_done(), existing=(1, 2))
    now = apply_steps(plan.initial, plan.steps[:1])
    assert rollback_steps(M, "hmac-finish", (H,), plan.initial, now, plan.steps[:1]) == (
        Repoint((Change(EXE, H, A(2, 1, "k2-aaaaaa")), Change(SEN, H, A(2, 1, "k2-aaaaaa")))),
        Verify((EXE, SEN)),
    )
    with pytest.raises(PastPointOfNoReturn, match="rotate resume"):
        rollback_steps(M, "hmac-finish", (H,), plan.initial, now, plan.steps[:3])


def test_abort_after_phase1_completed() -> None:
    plan = plan_hmac(M, H, {}, existing=(), key_token="aaaaaa")
    journal = start(plan, Journal(), "run-1", NOW)
    journal.assignments = apply_steps({}, plan.steps)
    journal.active.done = len(plan.steps)
    journal = complete(journal, NOW, finish_after_hours=24)
    assert journal.pending[H].written == (1, 2)
    assert phase2_allowed_at(journal.pending[H]) == datetime(2025, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert phase2_allowed_at(journal.pending[H], min_age_hours=1.5).hour == 13
    rolled = rollback_pending(M, journal, H, "run-2", NOW, reason="operator")
    assert rolled.active.mode == "rollback"
    assert rolled.active.steps == (
        Repoint((Change(BRAIN, H, A()),)),
        Verify((BRAIN,)),
        Repoint((Change(EXE, H, A()), Change(SEN, H, A()))),
        Verify((EXE, SEN)),
        RemoveVersions(H, (1, 2)),
    )
    assert H not in rolled.pending


# --- db ------------------------------------------------------------------------------------------


def test_db_plan_provisions_first_then_one_consumer_at_a_time_holder_last() -> None:
    plan = plan_db(M, DB, {}, existing=())
    assert plan.steps == (
        WriteVersion(DB, 1, "generate"),
        Provision(DB, 1, "postgres"),
        Repoint((Change(BRAIN, DB, A(1)),)),
        Verify((BRAIN,)),
        Repoint((Change("postgres", DB, A(1)),)),
        Verify(("postgres", BRAIN)),
        SyncBase(DB, 1),
    )
    second = plan_db(M, DB, {DB: {"postgres": A(1), BRAIN: A(1)}}, existing=(1,), last_version=1)
    assert second.steps[0] == WriteVersion(DB, 2, "generate")
    assert second.steps[-1] == RemoveVersions(DB, (1,))


def test_db_rollback_restores_the_old_password_first() -> None:
    plan = plan_db(M, DB, {}, existing=())
    steps = plan.steps

    def rollback(reached: int):
        now = apply_steps(plan.initial, steps[:reached])
        return rollback_steps(M, "db", (DB,), plan.initial, now, steps[:reached])

    assert rollback(1) == (RemoveVersions(DB, (1,)),)
    # provision started (maybe applied): the old password goes back even if it never finished
    assert rollback(2) == (Provision(DB, None, "postgres"), RemoveVersions(DB, (1,)))
    assert rollback(4) == (
        Provision(DB, None, "postgres"),
        Repoint((Change(BRAIN, DB, A()),)),
        Verify((BRAIN,)),
        RemoveVersions(DB, (1,)),
    )
    assert rollback(6) == (
        Provision(DB, None, "postgres"),
        Repoint((Change("postgres", DB, A()),)),
        Verify(("postgres",)),
        Repoint((Change(BRAIN, DB, A()),)),
        Verify((BRAIN,)),
        RemoveVersions(DB, (1,)),
    )


def test_db_needs_provision() -> None:
    text = (REPO / "secrets.manifest.yml").read_text()
    bare = parse_manifest_text(
        text.replace("    provision: {kind: postgres, service: postgres}\n", "")
    )
    with pytest.raises(ConfigError, match="needs `provision`"):
        plan_db(bare, DB, {}, existing=())
    with pytest.raises(UsageError, match="--secret"):
        find_secret(bare, "rolling", "db", None)
    assert find_secret(M, "rolling", "db", None) == DB


# --- exchange ------------------------------------------------------------------------------------


def test_exchange_plan_writes_the_input_then_each_consumer_with_proof() -> None:
    plan = plan_exchange(M, "binance", {}, existing={})
    proof = r"Exchange connected \(binance\)"
    per_consumer = []
    for service in (EXE, SEN, "titan-scavenger", "titan-ai-quant"):
        per_consumer += [
            Repoint((Change(service, BK, A(1)), Change(service, BS, A(1)))),
            Verify((service,)),
            CheckLog(service, proof),
        ]
    assert plan.steps == (
        WriteVersion(BK, 1, "input"),
        WriteVersion(BS, 1, "input"),
        *per_consumer,
        SyncBase(BK, 1),
        SyncBase(BS, 1),
    )
    assert plan.group == "binance"
    with pytest.raises(UsageError, match="groups: binance, bybit"):
        plan_exchange(M, "kraken", {}, existing={})


def test_exchange_rollback_restores_each_restarted_consumer_and_checks_softly() -> None:
    plan = plan_exchange(M, "binance", {}, existing={})
    reached = plan.steps[:6]  # writes, execution done and proven, sentinel repointed
    now = apply_steps(plan.initial, reached)
    proof = r"Exchange connected \(binance\)"
    assert rollback_steps(M, "exchange", (BK, BS), plan.initial, now, reached) == (
        Repoint((Change(EXE, BK, A()), Change(EXE, BS, A()))),
        Verify((EXE,)),
        CheckLog(EXE, proof, required=False),
        Repoint((Change(SEN, BK, A()), Change(SEN, BS, A()))),
        Verify((SEN,)),
        CheckLog(SEN, proof, required=False),
        RemoveVersions(BK, (1,)),
        RemoveVersions(BS, (1,)),
    )


# --- journal values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        WriteVersion(H, 1, "copy", copy_of=None),
        WriteVersion(H, 2, "generate"),
        Repoint((Change(EXE, H, A(2, 1, "k2-x")), Change(SEN, H, A(None, None, None)))),
        Verify((EXE, SEN)),
        Provision(DB, None, "postgres"),
        CheckLog(EXE, r"x\(y\)", required=False),
        SyncBase(H, 2),
        RemoveVersions(H, (1, 3)),
    ],
)
def test_steps_survive_the_journal(step) -> None:
    assert step_from_dict(step_to_dict(step)) == step


def test_journal_roundtrip_and_rollback_switch() -> None:
    plan = plan_db(M, DB, {}, existing=())
    journal = start(plan, Journal(last_version={H: 4}), "db-1", NOW)
    assert journal.last_version == {H: 4, DB: 1}
    journal.active.done, journal.active.in_progress = 3, 3
    journal.assignments = apply_steps({}, plan.steps[:4])
    again = journal_from_dict(journal_to_dict(journal))
    assert again == journal
    rolled = begin_rollback(M, again, reason="brain unhealthy")
    assert rolled.active.mode == "rollback"
    assert rolled.active.forward_reached == 4
    assert rolled.active.steps[0] == Provision(DB, None, "postgres")
    assert begin_rollback(M, rolled, reason="again") is rolled  # idempotent


def test_version_files_are_recognised() -> None:
    names = [H, f"{H}.v1", f"{H}.v12", f"{H}.vx", f"{DB}.v3", f".{H}.v2.tmp-1"]
    assert parse_version_files(names, H) == (1, 12)


# --- class 9.5: the journal carries its manifest entries; consumers that mount different files --


def test_the_journal_freezes_the_manifest_entries_of_its_secrets() -> None:
    plan = plan_hmac(M, H, {}, existing=(), key_token="aaaaaa")
    assert plan.specs == {H: M.secrets[H]}
    journal = start(plan, Journal(), "run", NOW)
    again = journal_from_dict(journal_to_dict(journal))
    assert again.active.specs == {H: M.secrets[H]}
    # a manifest without the secret: the rollback comes from the journal alone
    bare = replace(M, secrets={k: v for k, v in M.secrets.items() if k != H})
    again.assignments = apply_steps({}, plan.steps[:3])
    again.active.done = 3
    rolled = begin_rollback(bare, again, reason="abort")
    assert rolled.active.steps[:2] == (
        Repoint((Change(EXE, H, A()), Change(SEN, H, A()))),
        Verify((EXE, SEN)),
    )
    assert effective_manifest(bare, rolled).secrets[H] == M.secrets[H]
    assert manifest_changes(bare, again.active.specs) == [
        "secret titan_hmac_secret is no longer in secrets.manifest.yml (removed or renamed)"
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "a b", "env": "X_FILE"},
        {"service": "ok", "env": "x-file"},
        {"service": "ok", "env": 'X"\n  evil: 1'},
        {"service": ["list"], "env": "X_FILE"},
    ],
)
def test_a_hostile_frozen_entry_makes_the_journal_unreadable(bad: dict) -> None:
    doc = journal_to_dict(start(plan_db(M, DB, {}, existing=()), Journal(), "run", NOW))
    doc["active"]["specs"][DB]["consumers"][0] = bad
    with pytest.raises((ValueError, TypeError)):
        journal_from_dict(doc)


def test_manifest_changes_name_each_change() -> None:
    text = (REPO / "secrets.manifest.yml").read_text()
    changed = parse_manifest_text(
        text.replace(
            "      titan-sentinel: {env: TITAN_HMAC_SECRET_PRIMARY_FILE, role: listener}\n", ""
        )
        .replace(
            "      titan-execution: {env: TITAN_HMAC_SECRET_PRIMARY_FILE, role: listener}",
            "      titan-execution: {env: TITAN_HMAC_PRIMARY_FILE, role: listener}\n"
            "      titan-hunter: {env: TITAN_HMAC_SECRET_PRIMARY_FILE, role: listener}",
        )
        .replace("key_id_env: TITAN_HMAC_KEY_ID", "key_id_env: TITAN_HMAC_KID")
        .replace(
            "provision: {kind: postgres, service: postgres}",
            "provision: {kind: postgres, service: postgres, role: app}",
        ),
    )
    assert manifest_changes(changed, {H: M.secrets[H], DB: M.secrets[DB]}) == [
        "titan_hmac_secret: consumer titan-sentinel was removed",
        "titan_hmac_secret: consumer titan-hunter was added",
        "titan_hmac_secret: titan-execution's env var changed from "
        "TITAN_HMAC_SECRET_PRIMARY_FILE to TITAN_HMAC_PRIMARY_FILE",
        "titan_hmac_secret: key_id_env changed from TITAN_HMAC_KEY_ID to TITAN_HMAC_KID",
        "titan_db_password: provision changed from postgres in postgres to postgres in "
        "postgres (role app)",
    ]
    assert manifest_changes(M, {H: M.secrets[H]}) == []


def test_a_consumer_added_after_a_rotation_mounts_the_base_file_and_the_next_plan_works() -> None:
    """No rotation in flight, consumers on different files: never 'finish or abort first'."""
    after_db = {DB: {BRAIN: A(3)}}  # postgres still on the base file (e.g. added since)
    plan = plan_db(M, DB, after_db, existing=(3,), last_version=3)
    assert plan.new_versions == {DB: 4}
    assert plan.initial == {DB: {"postgres": A(), BRAIN: A(3)}}
    forward = tuple(s for s in plan.steps if not s.cleanup)
    back = rollback_steps(M, "db", (DB,), plan.initial, apply_steps(after_db, forward), forward)
    assert back[0] == Provision(DB, None, "postgres")  # the holder's own old file
    assert Repoint((Change(BRAIN, DB, A(3)),)) in back
    # exchange: a consumer on the base file beside others on v2
    keys = {BK: {EXE: A(2), SEN: A(2)}, BS: {EXE: A(2), SEN: A(2)}}
    plan = plan_exchange(M, "binance", keys, {BK: (2,), BS: (2,)}, {BK: 2, BS: 2})
    assert plan.new_versions == {BK: 3, BS: 3}
    # hmac: a listener added since phase 2 (base file) beside listeners and brain on v2
    hmac_now = {H: {BRAIN: A(2, None, "k2-a"), EXE: A(2, None, "k2-a")}}
    plan = plan_hmac(M, H, hmac_now, existing=(2,), key_token="bbbbbb", last_version=2)
    assert plan.steps[1] == Repoint(
        (Change(EXE, H, A(3, 2, "k3-bbbbbb")), Change(SEN, H, A(3, 2, "k3-bbbbbb")))
    )
    # signers that disagree, listeners that agree: the listeners' key stays accepted
    split = {H: {BRAIN: A(2, None, "k2-a"), EXE: A(2, None, "k2-a"), SEN: A(2, None, "k2-a")}}
    two_signers = replace(
        M,
        secrets={
            **M.secrets,
            H: replace(
                M.secrets[H],
                consumers=(*M.secrets[H].consumers, Consumer("titan-console", "X_FILE", "signer")),
            ),
        },
    )
    plan = plan_hmac(two_signers, H, split, existing=(2,), key_token="cccccc", last_version=2)
    assert plan.steps[1].changes[0].assignment == A(3, 2, "k3-cccccc")
    # nobody agrees: named, and not as a rotation in flight
    chaos = {H: {BRAIN: A(2), "titan-console": A(), EXE: A(2), SEN: A()}}
    with pytest.raises(UsageError) as caught:
        plan_hmac(two_signers, H, chaos, existing=(2,), key_token="d", last_version=2)
    assert "no rotation is in flight" in str(caught.value)
    assert "titan-console base" in str(caught.value) and "abort" not in str(caught.value)
