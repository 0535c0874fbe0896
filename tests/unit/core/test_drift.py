"""Edits that will never apply (issue 8, classes 8a-8c), as pure logic: core/drift.py and the
rotation-in-flight gate of `up`. Journals come from the real plan and journal functions."""

from __future__ import annotations

import json
import secrets as pyrandom
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import REPO
from titan_deploy.core import drift
from titan_deploy.core.findings import Finding, error
from titan_deploy.core.manifest import load_manifest, parse_manifest_text
from titan_deploy.core.rotation import (
    Journal,
    apply_steps,
    complete,
    plan_db,
    plan_exchange,
    plan_hmac,
    plan_hmac_finish,
    plan_restart,
    start,
)
from titan_deploy.ops.up import in_flight_message

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DB = "titan_db_password"
H = "titan_hmac_secret"


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(REPO / "secrets.manifest.yml")


def value() -> bytes:
    return pyrandom.token_urlsafe(32).encode()


def finished(manifest, plan, journal: Journal | None = None) -> Journal:
    """The journal once `plan` ran every step (the real start/complete functions)."""
    journal = start(plan, journal or Journal(), f"{plan.procedure}-test", NOW)
    journal = replace(journal, assignments=apply_steps(journal.assignments, plan.steps))
    return complete(journal, NOW)


def db_rotated(manifest) -> tuple[Journal, dict[str, bytes]]:
    """After `rotate db`: consumers on v1, the base file synced to v1."""
    journal = finished(manifest, plan_db(manifest, DB, {}, ()))
    new = value()
    return journal, {DB: new, f"{DB}.v1": new}


# --- which command applies a value ---------------------------------------------------------------


def test_rotate_command_follows_the_manifest(manifest) -> None:
    assert drift.rotate_command(manifest, H) == "titan-deploy rotate hmac"
    assert drift.rotate_command(manifest, DB) == "titan-deploy rotate db"
    assert drift.rotate_command(manifest, "binance_api_secret") == (
        "titan-deploy rotate exchange binance"
    )
    assert drift.rotate_command(manifest, "bybit_api_key") == "titan-deploy rotate exchange bybit"
    assert drift.rotate_command(manifest, "gemini_api_key") == (
        "titan-deploy rotate secret gemini_api_key"
    )
    assert drift.rotate_command(manifest, "grafana_admin_password") == (
        "titan-deploy rotate secret grafana_admin_password"
    )


def test_rotate_command_names_the_secret_when_ambiguous() -> None:
    text = """
version: 1
secrets:
  a_db: {kind: password, rotation: rolling, provision: {kind: postgres, service: pg},
         consumers: {pg: A_FILE}}
  b_db: {kind: password, rotation: rolling, provision: {kind: postgres, service: pg2},
         consumers: {pg2: B_FILE}}
"""
    manifest = parse_manifest_text(text)
    assert drift.rotate_command(manifest, "b_db") == "titan-deploy rotate db --secret b_db"


def test_verify_fix_hint_is_the_secrets_rotation_never_a_redeploy(manifest) -> None:
    hints = drift.fix_hints(manifest)
    assert set(hints) == set(manifest.secrets)
    assert "`titan-deploy rotate db`" in hints[DB]
    assert "`titan-deploy rotate hmac`" in hints[H]
    assert "`titan-deploy rotate exchange binance`" in hints["binance_api_key"]
    assert hints["gemini_api_key"].startswith("run `titan-deploy up`: it recreates")
    assert "`titan-deploy rotate secret gemini_api_key --from-file FILE`" in hints["gemini_api_key"]
    for hint in hints.values():
        assert "redeploy" not in hint
        assert "rotate ...`" not in hint


# --- D001: a base file edited after a rotation ---------------------------------------------------


def test_base_file_in_sync_after_db_rotation_is_quiet(manifest) -> None:
    journal, values = db_rotated(manifest)
    assert drift.base_edits(manifest, journal.assignments, values) == []


def test_base_file_edited_after_db_rotation_is_named(manifest) -> None:
    journal, values = db_rotated(manifest)
    canary = value()
    values[DB] = canary
    (finding,) = drift.base_edits(manifest, journal.assignments, values)
    assert (finding.code, finding.severity, finding.secret) == ("D001", "error", DB)
    assert "secrets/titan_db_password.v1" in finding.message
    assert "postgres" in finding.message and "titan-brain" in finding.message
    assert "never reaches a container" in finding.message
    assert "`titan-deploy rotate db`" in (finding.fix or "")
    assert "redeploy" not in (finding.fix or "") + finding.message
    assert canary.decode() not in repr(finding)


@pytest.mark.parametrize(
    ("procedure", "secret", "command"),
    [
        ("hmac-finish", H, "titan-deploy rotate hmac"),
        ("exchange", "binance_api_key", "titan-deploy rotate exchange binance"),
        ("exchange", "binance_api_secret", "titan-deploy rotate exchange binance"),
    ],
)
def test_edit_after_every_rotation_kind_points_at_its_command(
    manifest, procedure, secret, command
) -> None:
    if procedure == "hmac-finish":
        journal = finished(manifest, plan_hmac(manifest, H, {}, (), "t0"))
        journal = finished(
            manifest, plan_hmac_finish(manifest, H, journal.assignments, (1, 2)), journal
        )
        version = 2
    else:
        journal = finished(manifest, plan_exchange(manifest, "binance", {}, {}))
        version = 1
    in_use = value()
    values = {secret: value(), f"{secret}.v{version}": in_use}
    (finding,) = drift.base_edits(manifest, journal.assignments, values)
    assert finding.secret == secret
    assert f"{secret}.v{version}" in finding.message
    assert f"`{command}`" in (finding.fix or "")
    values[secret] = in_use
    assert drift.base_edits(manifest, journal.assignments, values) == []


def test_edit_after_a_restart_rotation_points_at_rotate_secret_with_the_base_file(
    manifest,
) -> None:
    G = "grafana_admin_password"
    journal = finished(manifest, plan_restart(manifest, G, {}, (), source="generate"))
    values = {G: value(), f"{G}.v1": value()}
    (finding,) = drift.base_edits(manifest, journal.assignments, values)
    assert "grafana mount secrets/grafana_admin_password.v1" in finding.message
    command = f"`titan-deploy rotate secret {G} --from-file secrets/{G}`"
    assert command in (finding.fix or "")
    assert "--generate" in (finding.fix or "")  # grafana's password may be generated


# --- what `up` applies by a recreate ---------------------------------------------------------


def stale(manifest, service: str, secret: str, fix: str | None = None) -> Finding:
    return error(
        "V002",
        f"{service}-1: /run/secrets/{secret} differs from the host file",
        fix=drift.fix_hint(manifest, secret) if fix is None else fix,
        service=service,
        secret=secret,
    )


def test_up_recreates_only_consumers_of_stale_restart_secrets_outside_a_group(manifest) -> None:
    findings = [
        stale(manifest, "grafana", "grafana_admin_password"),
        stale(manifest, "titan-ai-quant", "gemini_api_key"),
        stale(manifest, "titan-ai-quant", "binance_api_key"),  # exchange group: proof needed
        stale(manifest, "titan-brain", H),  # hmac: two phases
        stale(manifest, "postgres", DB),  # rolling: ALTER ROLE
        error("V003", "unreadable", service="grafana", secret="grafana_admin_password"),
    ]
    assert drift.recreatable(manifest, findings) == {
        "grafana": ("grafana_admin_password",),
        "titan-ai-quant": ("gemini_api_key",),
    }
    for secret in ("binance_api_key", H, DB):
        assert drift.fix_hint(manifest, secret).startswith("run `titan-deploy rotate ")


def test_a_pair_with_another_content_problem_is_not_recreated(manifest) -> None:
    """The file changed after check-secrets passed it: a recreate would deploy an unchecked
    value and verify would still fail."""
    findings = [
        stale(manifest, "grafana", "grafana_admin_password"),
        stale(manifest, "grafana", "grafana_admin_password", fix="run `titan-deploy up` again"),
    ]
    assert drift.recreatable(manifest, findings) == {}
    assert drift.recreatable(manifest, []) == {}


def test_hmac_phase1_pending_keeps_the_old_key_in_the_base_file(manifest) -> None:
    """Phase 1 done, phase 2 pending: signers on v2, listeners v2 + previous v1 (the pinned base):
    the base file legitimately holds the old key."""
    journal = finished(manifest, plan_hmac(manifest, H, {}, (), "t0"))
    assert H in journal.pending and journal.active is None
    old, new = value(), value()
    values = {H: old, f"{H}.v1": old, f"{H}.v2": new}
    assert drift.base_edits(manifest, journal.assignments, values) == []
    values[H] = value()  # now it IS edited: listeners' previous key is v1, nobody mounts the base
    (finding,) = drift.base_edits(manifest, journal.assignments, values)
    assert "titan_hmac_secret.v2" in finding.message and "titan_hmac_secret.v1" in finding.message
    assert "secrets/titan_hmac_secret.v1 holds the value it had" in (finding.fix or "")


def test_no_rotation_no_versions_nothing_to_say(manifest) -> None:
    values = {name: value() for name in manifest.secrets}
    assert drift.base_edits(manifest, {}, values) == []


def test_secret_of_the_rotation_in_flight_is_skipped(manifest) -> None:
    journal, values = db_rotated(manifest)
    values[DB] = value()
    assert drift.base_edits(manifest, journal.assignments, values, skip=[DB]) == []


def test_missing_version_file_is_left_to_verify(manifest) -> None:
    journal, values = db_rotated(manifest)
    del values[f"{DB}.v1"]
    values[DB] = value()
    assert drift.base_edits(manifest, journal.assignments, values) == []


# --- D002: the database password edited after postgres initialised its volume ------------------


def deployed(manifest, values, assignments=None) -> drift.DeployRecord:
    record = drift.DeployRecord(salt=pyrandom.token_hex(16))
    return drift.record_deployed(manifest, assignments or {}, values, record, [DB], "2025-03-01")


def test_password_unchanged_since_up_is_quiet(manifest) -> None:
    values = {DB: value()}
    record = deployed(manifest, values)
    assert record.secrets[DB].file == DB
    assert drift.password_edits(manifest, {}, values, record) == []
    assert drift.password_edits(manifest, {}, {DB: value()}, None) == []  # never deployed


def test_password_edited_after_up_says_rotate_db_not_redeploy(manifest) -> None:
    values = {DB: value()}
    record = deployed(manifest, values)
    canary = value()
    (finding,) = drift.password_edits(manifest, {}, {DB: canary}, record)
    assert (finding.code, finding.severity, finding.secret, finding.service) == (
        "D002",
        "error",
        DB,
        "postgres",
    )
    assert "POSTGRES_PASSWORD_FILE only to initialise an empty data dir" in finding.message
    assert "titan-brain" in finding.message
    assert (finding.fix or "").startswith("run `titan-deploy rotate db`")
    assert "redeploy" not in (finding.fix or "")
    assert canary.decode() not in repr(finding)


def test_password_after_rotate_db_is_compared_with_its_own_file(manifest) -> None:
    """`rotate db` moved postgres to v1: the record of the base file no longer applies, and the
    base file's (synced) value is not what the database holds any more."""
    values = {DB: value()}
    record = deployed(manifest, values)
    journal, after = db_rotated(manifest)
    assert drift.password_edits(manifest, journal.assignments, after, record) == []
    record = deployed(manifest, after, journal.assignments)
    assert record.secrets[DB].file == f"{DB}.v1"
    after[f"{DB}.v1"] = value()
    (finding,) = drift.password_edits(manifest, journal.assignments, after, record)
    assert "titan_db_password.v1" in finding.message


def test_record_holds_no_value_and_round_trips(manifest) -> None:
    canary = value()
    record = deployed(manifest, {DB: canary})
    doc = json.dumps(drift.record_to_dict(record))
    assert canary.decode() not in doc
    assert canary.hex() not in doc
    assert drift.record_from_dict(json.loads(doc)) == record
    # a salted digest: the same value under another salt gives another digest
    assert deployed(manifest, {DB: canary}).secrets[DB].digest != record.secrets[DB].digest


def test_record_only_what_verify_proved(manifest) -> None:
    record = drift.DeployRecord(salt=pyrandom.token_hex(16))
    out = drift.record_deployed(manifest, {}, {DB: value()}, record, [], "t")
    assert out.secrets == {}


# --- 8c: up refuses a rotation in flight, not a pending HMAC phase 2 ------------------------------


def test_up_gate_refuses_a_rotation_in_flight(manifest) -> None:
    plan = plan_db(manifest, DB, {}, ())
    journal = start(plan, Journal(), "db-20250301T120000Z-ab12", NOW)
    journal.active.done = 2
    journal.active.in_progress = 2
    message = in_flight_message(journal)
    assert message is not None
    assert "db-20250301T120000Z-ab12" in message
    assert "step 3/" in message and "repoint titan-brain" in message
    assert "`titan-deploy rotate resume`" in message and "`titan-deploy rotate abort`" in message


def test_up_gate_lets_a_pending_hmac_phase2_through(manifest) -> None:
    journal = finished(manifest, plan_hmac(manifest, H, {}, (), "t0"))
    assert journal.pending and journal.active is None
    assert in_flight_message(journal) is None
    assert in_flight_message(Journal()) is None


# --- a secret with `file:`: every hint names its file, never `<secrets dir>/<name>` ------------

FILE_MANIFEST = """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  Db_Pass:
    kind: password
    file: db/password.txt
    provision: {kind: postgres, service: db}
    rotation: rolling
    consumers: {db: POSTGRES_PASSWORD_FILE, app: DB_PASSWORD_FILE}
  api_key:
    kind: api-key
    file: d/sub.txt
    consumers: {app: API_KEY_FILE}
"""


def test_hints_for_a_secret_with_file_name_its_file_and_versions() -> None:
    from titan_deploy.core.valuechecks import Where, missing_fix

    manifest = parse_manifest_text(FILE_MANIFEST)
    journal = finished(manifest, plan_restart(manifest, "api_key", {}, (), source="file"))
    values = {"api_key": value(), "api_key.v1": value()}
    (finding,) = drift.base_edits(manifest, journal.assignments, values)
    text = f"{finding.message} {finding.fix}"
    assert "secrets/d/sub.txt differs" in text and "app mount secrets/d/sub.txt.v1" in text
    assert "--from-file secrets/d/sub.txt`" in text and "(secrets/d/sub.txt.v1 holds" in text
    assert "secrets/api_key" not in text
    spec = manifest.secrets["Db_Pass"]
    record = drift.record_deployed(
        manifest, {}, {"Db_Pass": value()}, drift.DeployRecord(salt="00" * 16), ["Db_Pass"], "t"
    )
    (edit,) = drift.password_edits(manifest, {}, {"Db_Pass": value()}, record)
    assert "secrets/db/password.txt changed after" in edit.message
    where = Where(shown=Path("secrets"), example_dir=None, example_label=None, names=())
    assert missing_fix(spec, where) == "write the value into secrets/db/password.txt"
