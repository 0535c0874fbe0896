"""The rotation's supporting pieces: the guard's metrics parsing, the SCRAM verifier and psql
input, the manifest keys (auth_guard, provision), and the CLI contract of `rotate` where no engine
is needed (dry runs, refusals, the lock, exit codes, JSON, no secret in any output)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.paths import REPO
from titan_deploy.core import authguard
from titan_deploy.core.manifest import AuthGuard, ProvisionSpec, load_manifest, parse_manifest_text
from titan_deploy.core.postgres import alter_role_sql, psql_argv, scram_verifier
from titan_deploy.core.rotation import (
    Journal,
    apply_steps,
    complete,
    iso,
    plan_hmac,
    start,
)
from titan_deploy.errors import ConfigError, UsageError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.effects import scrape_argv
from titan_deploy.project import Project

EXPOSITION = """\
# HELP auth_failures_total Signed messages rejected: no key matches (401)
# TYPE auth_failures_total counter
auth_failures_total 3
# HELP messages_accepted_by_key_total Accepted, by key slot
# TYPE messages_accepted_by_key_total counter
messages_accepted_by_key_total{key="primary"} 29
messages_accepted_by_key_total{key="secondary"} 25
"""


# --- the guard ----------------------------------------------------------------------------------


def test_counter_values_through_prometheus_client() -> None:
    assert authguard.counter_value(EXPOSITION, "auth_failures_total") == 3
    assert authguard.counter_value(EXPOSITION, "messages_accepted_by_key") == 54
    with pytest.raises(authguard.MetricsParseError, match="no rejected_total"):
        authguard.counter_value(EXPOSITION, "rejected_total")
    with pytest.raises(authguard.MetricsParseError):
        authguard.counter_value("auth_failures_total not-a-number\n", "auth_failures_total")


def test_increase_counts_recreated_containers_from_zero() -> None:
    before = {"c1": ("titan-execution", 5.0), "c2": ("titan-sentinel", 2.0)}
    same = authguard.increase(before, before)
    assert same.total == 0 and not authguard.tripped(same, 0)
    # c1 replaced by c3 (counter reset to 1: one failure since it started); c2 +2
    after = {"c3": ("titan-execution", 1.0), "c2": ("titan-sentinel", 4.0)}
    change = authguard.increase(before, after)
    assert change.by_service == {"titan-execution": 1.0, "titan-sentinel": 2.0}
    assert change.describe() == "titan-execution +1, titan-sentinel +2"
    assert authguard.tripped(change, 2) and not authguard.tripped(change, 3)


def test_scrape_argv_is_data_without_a_shell() -> None:
    assert scrape_argv("http://127.0.0.1:3002/metrics") == [
        "wget",
        "-q",
        "-O",
        "-",
        "http://127.0.0.1:3002/metrics",
    ]


# --- postgres -----------------------------------------------------------------------------------


def test_scram_verifier_matches_rfc7677() -> None:
    """RFC 7677's example exchange (user "user", password "pencil"): the verifier's keys produce
    the RFC's server signature and accept its client proof."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_verifier("pencil", salt, 4096)
    head, keys = verifier.rsplit("$", 1)
    assert head == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    first = "n=user,r=rOprNGfwEbeRWgbNEkqO"
    auth = f"{first},r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
    server_signature = hmac.new(server_key, auth.encode(), "sha256").digest()
    assert base64.b64encode(server_signature).decode() == (
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    )
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth.encode(), "sha256").digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_alter_role_input_carries_no_password_and_argv_no_secret() -> None:
    password = "Zq3vN8wLr2Tb6YhKp0Xc4Mf9abcdefgh"
    verifier = scram_verifier(password, os.urandom(16))
    sql = alter_role_sql('ti"tan', verifier)
    assert password not in sql and password not in verifier
    assert sql.endswith(f'ALTER ROLE "ti""tan" PASSWORD \'{verifier}\';\n')
    assert "SET log_statement = 'none';" in sql
    argv = psql_argv("titan", "titan")
    assert argv == ["psql", "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-U", "titan", "-d", "titan"]
    with pytest.raises(ValueError):
        scram_verifier("pässword-with-umlaut", b"salt")


# --- manifest keys ------------------------------------------------------------------------------


def test_titan_manifest_guard_and_provision() -> None:
    m = load_manifest(REPO / "secrets.manifest.yml")
    assert m.auth_guard == AuthGuard(
        metric="auth_failures_total",
        threshold=0,
        endpoints=(
            ("titan-execution", "http://127.0.0.1:3002/metrics"),
            ("titan-sentinel", "http://127.0.0.1:8084/metrics"),
        ),
        counters=(
            (
                "nats_auth_failures_total",
                tuple(
                    (f"titan-{s}", f"http://127.0.0.1:{port}/metrics")
                    for s, port in (
                        ("brain", 3100),
                        ("execution", 3002),
                        ("sentinel", 8084),
                        ("scavenger", 8081),
                        ("hunter", 8083),
                        ("ai-quant", 8082),
                    )
                ),
            ),
        ),
    )
    assert m.secrets["titan_db_password"].provision == ProvisionSpec("postgres", "postgres")


BASE = """\
version: 1
{top}
secrets:
  db:
    kind: password
    rotation: {rotation}
{provision}
    consumers: {{pg: POSTGRES_PASSWORD_FILE, app: DB_PASSWORD_FILE}}
"""


def error_of(top: str = "", provision: str = "", rotation: str = "rolling") -> str:
    text = BASE.format(top=top, provision=provision, rotation=rotation)
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(text, "m.yml")
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_manifest_key_errors_name_file_line_and_path() -> None:
    assert error_of(provision="    provision: {kind: mysql, service: pg}") == (
        "m.yml:7: secrets.db.provision.kind: should be one of postgres"
    )
    assert error_of(provision="    provision: {kind: postgres, service: other}") == (
        "m.yml:7: secrets.db.provision.service: must be one of this secret's consumers"
    )
    assert error_of(
        provision="    provision: {kind: postgres, service: pg}", rotation="restart"
    ) == ("m.yml:7: secrets.db.provision: only for rotation: rolling")
    assert error_of(provision="    provision: {kind: postgres, service: pg, role: 'a b'}") == (
        "m.yml:7: secrets.db.provision.role: role must match [A-Za-z_][A-Za-z0-9_]*"
    )
    assert error_of(top="auth_guard: {endpoints: {app: 'http://x:1/m; rm -rf /'}}") == (
        "m.yml:2: auth_guard.endpoints.app: should be an http://HOST[:PORT]/PATH URL"
    )
    assert error_of(top="auth_guard: {threshold: -1, endpoints: {app: 'http://x/m'}}") == (
        "m.yml:2: auth_guard.threshold: must be 0 or more"
    )
    assert error_of(top="auth_guard: {metric: 'a-b', endpoints: {app: 'http://x/m'}}") == (
        "m.yml:2: auth_guard.metric: not a Prometheus metric name"
    )
    assert error_of(top="auth_guard: {endpoints: {}}") == (
        "m.yml:2: auth_guard.endpoints: must name at least one service"
    )
    guard = "auth_guard: {endpoints: {app: 'http://x/m'}, counters: %s}"
    assert error_of(top=guard % "{nats_auth_failures_total: {}}") == (
        "m.yml:2: auth_guard.counters.nats_auth_failures_total: must name at least one service"
    )
    assert error_of(top=guard % "{'a-b': {app: 'http://x/m'}}") == (
        "m.yml:2: auth_guard.counters.a-b: not a Prometheus metric name"
    )
    assert error_of(top=guard % "{auth_failures_total: {app: 'http://x/m'}}") == (
        "m.yml:2: auth_guard.counters.auth_failures_total: is auth_guard.metric already"
    )
    assert error_of(top=guard % "{n_total: [app]}") == (
        "m.yml:2: auth_guard.counters.n_total: should be a mapping"
    )
    assert error_of(top=guard % "{n_total: {app: 'ftp://x'}}") == (
        "m.yml:2: auth_guard.counters.n_total.app: should be an http://HOST[:PORT]/PATH URL"
    )


# --- the CLI, where no engine is needed ---------------------------------------------------------


def test_dry_runs_print_the_plan_and_change_nothing(ready_project: Path, cli) -> None:
    before = sorted(p.name for p in (ready_project / "secrets").iterdir())
    result = cli("-C", ready_project, "rotate", "hmac", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "write titan_hmac_secret.v1: a copy of titan_hmac_secret" in result.stdout
    hmac_doc = json.loads(cli("-C", ready_project, "--json", "rotate", "hmac", "--dry-run").stdout)
    steps = [r["step"] for r in hmac_doc["rows"]]
    assert steps[2].startswith(
        "repoint titan-execution, titan-sentinel -> titan_hmac_secret v2 + previous v1, key id k2-"
    )
    assert steps[4].startswith("repoint titan-brain -> titan_hmac_secret v2, key id k2-")
    assert steps[6] == "repoint titan-brain -> titan_hmac_secret base; recreate, wait healthy"
    assert "signers back first" in result.stdout
    doc = json.loads(cli("-C", ready_project, "--json", "rotate", "db", "--dry-run").stdout)
    assert doc["data"]["dry_run"] is True and doc["data"]["procedure"] == "db"
    assert [r["action"] for r in doc["rows"] if r["phase"] == "forward"] == [
        "write-version",
        "provision",
        "repoint",
        "verify",
        "repoint",
        "verify",
        "sync-base",
    ]
    doc = json.loads(
        cli("-C", ready_project, "--json", "rotate", "exchange", "bybit", "--dry-run").stdout
    )
    assert doc["data"]["secrets"] == ["bybit_api_key", "bybit_api_secret"]
    assert sorted(p.name for p in (ready_project / "secrets").iterdir()) == before
    assert not (ready_project / ".titan-deploy" / "state.json").exists()


def pending_phase1(project_dir: Path, hours_ago: float) -> None:
    project = Project(project_dir=project_dir)
    m = project.manifest
    plan = plan_hmac(m, "titan_hmac_secret", {}, (), "aaaaaa")
    moment = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    journal = start(plan, Journal(), "run", moment)
    journal.assignments = apply_steps({}, plan.steps)
    journal.active.done = len(plan.steps)
    journal = complete(journal, moment, finish_after_hours=24)
    journal_io.save(project, journal)


def test_phase2_is_refused_before_24h_and_status_says_when(ready_project: Path, cli) -> None:
    pending_phase1(ready_project, hours_ago=2)
    refused = cli("-C", ready_project, "rotate", "hmac", "--finish")
    assert refused.exit_code == 1
    assert "phase 2 of titan_hmac_secret is refused until" in refused.output
    assert "21 h 59 min from now" in refused.output or "21 h 5" in refused.output
    assert "--force" in refused.output
    also = cli("-C", ready_project, "rotate", "hmac", "--finish", "--min-age", "3")
    assert also.exit_code == 1 and "0 h 59 min" in also.output
    status = cli("-C", ready_project, "--json", "rotate", "status")
    assert status.exit_code == 0
    doc = json.loads(status.stdout)
    pending = doc["data"]["pending"]["titan_hmac_secret"]
    assert pending["phase2_allowed_now"] is False
    allowed = datetime.fromisoformat(pending["phase2_allowed_at"])
    assert timedelta(hours=21.9) < allowed - datetime.now(timezone.utc) < timedelta(hours=22.1)
    human = cli("-C", ready_project, "rotate", "status")
    assert "phase 2" in human.stdout and "allowed" in human.stdout
    again = cli("-C", ready_project, "rotate", "hmac")
    assert again.exit_code == 1 and "phase 1 of titan_hmac_secret is already done" in again.output
    usage = cli("-C", ready_project, "rotate", "hmac", "--force")
    assert usage.exit_code == 2


def test_a_held_lock_exits_3_naming_the_pid(ready_project: Path, cli) -> None:
    project = Project(project_dir=ready_project)
    with journal_io.acquire(project, "rotate hmac"):
        result = cli("-C", ready_project, "--json", "rotate", "db")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert f"pid {os.getpid()}" in doc["error"]
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(ready_project: Path, cli) -> None:
    result = cli("-C", ready_project, "rotate", "exchange", "kraken", "--dry-run")
    assert result.exit_code == 2
    assert "no exchange group kraken" in result.output
    result = cli("-C", ready_project, "rotate", "db", "--secret", "titan_hmac_secret", "--dry-run")
    assert result.exit_code == 2 and "rotation: hmac" in result.output


def test_exchange_material_is_validated_and_never_echoed(
    ready_project: Path, cli, titan_values
) -> None:
    current = titan_values["binance_api_key"].decode()
    # the value in use, on stdin: refused (exit 2), and the value is not echoed anywhere
    from typer.testing import CliRunner

    from titan_deploy.cli.app import app

    runner = CliRunner()
    args = ["-C", str(ready_project), "rotate", "exchange", "binance"]
    result = runner.invoke(app, args, input=f"{current}\nNEWsecretVALUE1234567890\n")
    assert result.exit_code == 2
    assert "already in use" in result.output
    assert current not in result.output and "NEWsecretVALUE" not in result.output
    result = runner.invoke(app, args, input="onlyone-value-123456\n")
    assert result.exit_code == 2 and "needs 2 values" in result.output
    result = runner.invoke(app, args, input="changeme\nchangeme-too-12345\n")
    assert result.exit_code == 2
    files = [str(ready_project / "a"), str(ready_project / "b")]
    result = runner.invoke(app, [*args, "--from-file", files[0]])
    assert result.exit_code == 2 and "--from-file 2 times" in result.output


def test_status_and_resume_with_nothing_in_flight(ready_project: Path, cli) -> None:
    status = cli("-C", ready_project, "rotate", "status")
    assert status.exit_code == 0 and "no rotation in flight" in status.stdout
    resume = cli("-C", ready_project, "rotate", "resume")
    assert resume.exit_code == 0 and "nothing to resume" in resume.stdout
    abort = cli("-C", ready_project, "rotate", "abort")
    assert abort.exit_code == 0 and "nothing to abort" in abort.stdout


def test_status_reports_a_stale_lock(ready_project: Path, cli) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    lock = ready_project / ".titan-deploy" / "rotation.lock"
    lock.mkdir(parents=True)
    (lock / "holder.json").write_text(json.dumps({"pid": proc.pid, "command": "rotate hmac"}))
    status = cli("-C", ready_project, "rotate", "status")
    assert "STALE" in status.stdout and f"pid {proc.pid}" in status.stdout
    refused = cli("-C", ready_project, "rotate", "hmac")
    assert refused.exit_code == 3 and "stale rotation lock" in refused.output
    broke = cli("-C", ready_project, "--json", "rotate", "resume")
    assert broke.exit_code == 0
    assert json.loads(broke.stdout)["data"]["broke_stale_lock_of_pid"] == proc.pid
    assert not lock.exists()
    assert iso(datetime(2025, 1, 1, tzinfo=timezone.utc)) == "2025-01-01T00:00:00+00:00"


def test_dry_run_names_the_guard_or_warns_it_is_off(ready_project: Path, cli) -> None:
    doc = json.loads(cli("-C", ready_project, "--json", "rotate", "hmac", "--dry-run").stdout)
    assert doc["data"]["guard"] == {
        "metric": "auth_failures_total",
        "threshold": 0,
        "services": ["titan-execution", "titan-sentinel"],
        "counters": {
            "nats_auth_failures_total": [
                "titan-brain",
                "titan-execution",
                "titan-sentinel",
                "titan-scavenger",
                "titan-hunter",
                "titan-ai-quant",
            ]
        },
    }
    manifest = ready_project / "secrets.manifest.yml"
    text = manifest.read_text()
    start = text.index("auth_guard:")
    end = text.index("\nsecrets:")
    manifest.write_text(text[:start] + text[end:])
    doc = json.loads(cli("-C", ready_project, "--json", "rotate", "hmac", "--dry-run").stdout)
    assert doc["data"]["guard"] is None
    assert [f["code"] for f in doc["findings"]] == ["R002"]


def test_dry_run_while_a_rotation_is_in_flight_is_refused(ready_project: Path, cli) -> None:
    project = Project(project_dir=ready_project)
    plan = plan_hmac(project.manifest, "titan_hmac_secret", {}, (), "aaaaaa")
    journal_io.save(project, start(plan, Journal(), "run", datetime.now(timezone.utc)))
    result = cli("-C", ready_project, "rotate", "db", "--dry-run")
    assert result.exit_code == 1
    assert "a hmac rotation (run) is in flight" in result.output
    status = cli("-C", ready_project, "rotate", "status")
    assert "rotation in flight: hmac (forward) run: 0/6 steps done" in status.stdout


@pytest.mark.parametrize("pid", [-1, 0, "garbage"])
def test_status_resume_abort_describe_a_lock_with_no_valid_pid(
    ready_project: Path, cli, pid
) -> None:
    lock = ready_project / ".titan-deploy" / "rotation.lock"
    for command in ("resume", "abort"):
        lock.mkdir(parents=True)
        (lock / "holder.json").write_text(json.dumps({"pid": pid, "command": "rotate hmac"}))
        status = cli("-C", ready_project, "rotate", "status")
        assert status.exit_code == 0
        assert "STALE: the lock holds no valid pid" in status.stdout
        assert "None" not in status.stdout and "(?)" not in status.stdout
        doc = json.loads(cli("-C", ready_project, "--json", "rotate", "status").stdout)
        assert doc["data"]["lock"]["alive"] is False and doc["data"]["lock"]["pid"] is None
        refused = cli("-C", ready_project, "rotate", "db")
        assert refused.exit_code == 3 and "lock holds no valid pid" in refused.output
        broke = cli("-C", ready_project, "rotate", command)
        assert broke.exit_code == 0, broke.output
        assert "broke the stale rotation lock: it held no valid pid" in broke.output
        assert not lock.exists()


# --- class 9.7: a value or env var that is another's --------------------------------------------

HMAC_WITH = """\
version: 1
secrets:
  other:
    kind: text
    consumers: {{app: OTHER_FILE, sig: OTHER_FILE}}
  h2:
    kind: hex
    bytes: 32
    rotation: hmac
    secondary_env: H2_PREV_FILE
    key_id_env: H2_KEY_ID
    consumers:
      sig: {{env: H2_FILE, role: signer}}
      lis: {{env: H2_FILE, role: listener}}
  h:
    kind: hex
    bytes: 32
    rotation: hmac
    secondary_env: H_PREV_FILE
    key_id_env: {key_id_env}
    consumers:
      sig: {{env: H_FILE, role: signer}}
      lis: {{env: H_FILE, role: listener}}
"""


@pytest.mark.parametrize(
    ("env", "other"),
    [
        ("OTHER_FILE", "the env var of secret other's consumer app"),  # another secret's env
        ("H2_FILE", "the env var of secret h2's consumer sig"),  # another hmac secret's env
        ("H_FILE", "the env var of secret h's consumer sig"),  # its own consumers' env
        ("H_PREV_FILE", "secret h's secondary_env"),
        ("H2_PREV_FILE", "secret h2's secondary_env"),
        ("H2_KEY_ID", "secret h2's key_id_env"),
    ],
)
def test_key_id_env_naming_an_env_var_in_use_is_a_config_error(env: str, other: str) -> None:
    text = HMAC_WITH.format(key_id_env=env)
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(text, "m.yml")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"m.yml:20: secrets.h.key_id_env: {env} is already {other}: the overlay would set it "
        "twice; name another env var"
    )
    parse_manifest_text(HMAC_WITH.format(key_id_env="H_KEY_ID"), "m.yml")  # control


def test_key_id_env_equal_to_a_consumer_env_via_the_cli_exits_2(ready_project: Path, cli) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace("key_id_env: TITAN_HMAC_KEY_ID", "key_id_env: BINANCE_API_KEY_FILE")
    )
    result = cli("-C", ready_project, "rotate", "hmac", "--dry-run")
    assert result.exit_code == 2
    assert "secrets.titan_hmac_secret.key_id_env: BINANCE_API_KEY_FILE is already" in result.output
    assert "Traceback" not in result.output


def _exchange(ready_project: Path, stdin: str):
    from typer.testing import CliRunner

    from titan_deploy.cli.app import app

    args = ["-C", str(ready_project), "rotate", "exchange", "binance"]
    return CliRunner().invoke(app, args, input=stdin)


def test_exchange_refuses_a_key_equal_to_its_secret_or_to_another_secret(
    ready_project: Path, titan_values
) -> None:
    secrets_dir = ready_project / "secrets"
    hmac_version = secrets_dir / "titan_hmac_secret.v3"
    old_hmac = b"0f" * 32
    hmac_version.write_bytes(old_hmac + b"\n")
    hmac_version.chmod(0o600)
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    fresh = "NEWkeyVALUEforBinance0123456789"
    cases = [
        (
            f"{fresh}\n{fresh}\n",
            "the new binance_api_secret is the same value as the new binance_api_key",
        ),
        (f"{fresh}\n  {fresh}  \n", "is the same value as the new binance_api_key"),
        (
            f"{titan_values['binance_api_secret'].decode()}\n{fresh}\n",
            "the new binance_api_key is the value of binance_api_secret",
        ),
        (
            f"{fresh}\n{titan_values['binance_api_key'].decode()}\n",
            "the new binance_api_secret is the value of binance_api_key",
        ),
        (
            f"{titan_values['bybit_api_key'].decode()}\n{fresh}\n",
            "the new binance_api_key is the value of bybit_api_key",
        ),
        (
            f"{fresh}\n{titan_values['titan_db_password'].decode()}\n",
            "the new binance_api_secret is the value of titan_db_password",
        ),
        (
            f"{old_hmac.decode()}\n{fresh}\n",
            "the new binance_api_key is the value of titan_hmac_secret",
        ),
    ]
    for stdin, message in cases:
        result = _exchange(ready_project, stdin)
        assert result.exit_code == 2, (message, result.output)
        assert message in result.output, result.output
        for value in [fresh, *(v.decode() for v in titan_values.values()), old_hmac.decode()]:
            assert value not in result.output
    after = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    assert after == before  # nothing changed
    assert not (ready_project / ".titan-deploy" / "state.json").exists()


def test_exchange_accepts_a_pem_key_and_refuses_line_breaks_elsewhere(ready_project: Path) -> None:
    """Exchange RSA/Ed25519 API keys are PEM (issue 8.9): `rotate exchange` takes one from a
    file with its newlines; a single-line kind still refuses a line break."""
    from tests.pemkit import ed25519_pem
    from titan_deploy.ops.rotate.exchange import validate_material

    manifest = ready_project / "secrets.manifest.yml"
    text = manifest.read_text()
    start = text.index("  binance_api_secret:")
    block = text[start:].split("\n\n", 1)[0]
    manifest.write_text(text.replace(block, block.replace("kind: api-key", "kind: pem", 1)))
    project = Project(project_dir=ready_project)
    assert project.manifest.secrets["binance_api_secret"].kind == "pem"
    key = b"NEWkeyVALUEforBinance0123456789"
    pem = ed25519_pem()
    out = validate_material(project, "binance", [key, pem + b"\n"])
    assert out == {"binance_api_key": key, "binance_api_secret": pem.strip()}
    with pytest.raises(UsageError, match="the new binance_api_key holds a line break"):
        validate_material(project, "binance", [key + b"\nmore", pem])
    with pytest.raises(UsageError, match=r"multi-line, e\.g\. a PEM key: give each value with"):
        validate_material(project, "binance", [key, *pem.splitlines()])
