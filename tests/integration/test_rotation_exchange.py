"""`rotate exchange NAME` on the real demo (issue 4): a key pair registered with the demo exchange
is proven by `Exchange connected (...)` in every consumer's logs after its restart; an
unregistered pair is rolled back — every consumer back on the old keys and connected — exit 1.
New material comes from --from-file or stdin, never argv."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
import time

import pytest

from tests.integration.rotation_kit import (
    assert_consistent,
    assert_no_canary,
    container_logs,
    docker_client,
    journal,
    remember_values,
    run_td,
    scrape,
)

pytestmark = pytest.mark.docker

FAST = ["--stop-timeout", "1", "--settle", "1"]
CONSUMERS = {
    "titan-execution": 3002,
    "titan-sentinel": 8084,
    "titan-scavenger": 8081,
    "titan-ai-quant": 8082,
}
SAMPLERS: list = []


def td(stack, *args, **kwargs):
    return run_td(stack, *args, sampler_sink=SAMPLERS, **kwargs)


def new_pair(stack, tmp_path, exchange: str, register: bool) -> tuple[bytes, bytes, list[str]]:
    alphabet = string.ascii_letters + string.digits
    sizes = {"binance": (64, 64), "bybit": (18, 36)}[exchange]
    key, secret = ("".join(secrets.choice(alphabet) for _ in range(n)).encode() for n in sizes)
    stack.values[f"new-{exchange}-key-{len(stack.values)}"] = key
    stack.values[f"new-{exchange}-secret-{len(stack.values)}"] = secret
    files = []
    for name, value in (("key", key), ("secret", secret)):
        path = tmp_path / f"{exchange}-{name}-{secrets.token_hex(3)}"
        path.touch(mode=0o600)
        path.write_bytes(value)
        files.append(str(path))
    if register:
        subprocess.run(
            [
                sys.executable,
                str(stack.root / "demo/register_exchange_key.py"),
                exchange,
                *files,
                "--registry",
                str(stack.root / ".titan-deploy/demo"),
            ],
            check=True,
            capture_output=True,
        )
    return key, secret, files


def rotate_from_stdin(stack, exchange: str, key: bytes, secret: bytes, sampler_sink=SAMPLERS):
    """`rotate exchange EXCHANGE` with the new pair on stdin, /proc sampled into `sampler_sink`."""
    material = key + b"\n" + secret + b"\n"
    argv = ["rotate", "exchange", exchange, "--log-timeout", "30", *FAST]
    return run_td(stack, *argv, stdin=material, sampler_sink=sampler_sink)


def connected(stack, exchange: str, timeout: float = 30) -> dict[str, float]:
    """exchange_connected{exchange=...} of every consumer, once all are 1 (or at the timeout)."""
    from prometheus_client.parser import text_string_to_metric_families

    client = docker_client()
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for service, port in CONSUMERS.items():
            (container,) = client.containers.list(
                filters={
                    "label": [
                        f"com.docker.compose.project={stack.name}",
                        f"com.docker.compose.service={service}",
                    ]
                }
            )
            _, out = container.exec_run(
                ["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics"]
            )
            for family in text_string_to_metric_families(out.decode()):
                for sample in family.samples:
                    if (
                        sample.name == "exchange_connected"
                        and sample.labels["exchange"] == exchange
                    ):
                        found[service] = sample.value
        if all(v == 1 for v in found.values()) and len(found) == 4:
            return found
        if time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_registered_key_pair_from_files_is_proven_and_the_old_one_must_be_revoked(
    rotation_demo, tmp_path
):
    s = rotation_demo
    remember_values(s)
    key, secret, files = new_pair(s, tmp_path, "binance", register=True)
    result = td(
        s,
        "--json",
        "rotate",
        "exchange",
        "binance",
        "--from-file",
        files[0],
        "--from-file",
        files[1],
        "--log-timeout",
        "30",
        *FAST,
    )
    assert result.returncode == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "completed"
    proofs = [r for r in doc["rows"] if r["action"] == "check-log"]
    assert len(proofs) == 4 and all(r["status"] == "done" for r in proofs)
    assert any("revoke the OLD binance API key" in f["message"] for f in doc["findings"])
    human = [r for r in s.outputs if "revoke" in r]
    assert human
    assert (s.root / "secrets" / "binance_api_key").read_bytes() == key
    assert (s.root / "secrets" / "binance_api_secret").read_bytes() == secret
    assert connected(s, "binance") == dict.fromkeys(CONSUMERS, 1.0)
    assert_consistent(s)


def test_registered_key_pair_from_stdin(rotation_demo, tmp_path):
    s = rotation_demo
    key, secret, _ = new_pair(s, tmp_path, "bybit", register=True)
    result = rotate_from_stdin(s, "bybit", key, secret)
    assert result.returncode == 0, result.output
    assert "Now revoke the old bybit key" in result.stdout
    assert (s.root / "secrets" / "bybit_api_key").read_bytes() == key
    assert connected(s, "bybit") == dict.fromkeys(CONSUMERS, 1.0)
    assert_consistent(s)


def test_unregistered_key_pair_is_rolled_back_and_consumers_reconnect_with_the_old(
    rotation_demo, tmp_path
):
    s = rotation_demo
    remember_values(s)
    before = journal(s)["assignments"]
    old_key = (s.root / "secrets" / "binance_api_key").read_bytes()
    _, _, files = new_pair(s, tmp_path, "binance", register=False)
    result = td(
        s,
        "--json",
        "rotate",
        "exchange",
        "binance",
        "--from-file",
        files[0],
        "--from-file",
        files[1],
        "--log-timeout",
        "8",
        *FAST,
    )
    assert result.returncode == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    assert "Exchange connected" in doc["data"]["reason"]
    rollback = [r for r in doc["rows"] if r["phase"] == "rollback"]
    assert [r["action"] for r in rollback][:3] == ["repoint", "verify", "check-log"]
    soft = [r for r in rollback if r["action"] == "check-log"]
    assert soft and all(not str(r["note"]).startswith("WARNING") for r in soft)
    assert "NOT accepted" in doc["summary"]
    doc_after = assert_consistent(s)
    assert doc_after["assignments"] == before
    assert (s.root / "secrets" / "binance_api_key").read_bytes() == old_key
    assert connected(s, "binance") == dict.fromkeys(CONSUMERS, 1.0)
    metrics = scrape(
        docker_client().containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={s.name}",
                    "com.docker.compose.service=titan-execution",
                ]
            }
        )[0],
        "http://127.0.0.1:3002/metrics",
    )
    assert metrics.get("auth_failures", 0) == 0  # HMAC untouched by an exchange rotation


def test_exchange_rotation_leaks_nothing(rotation_demo, tmp_path):
    """Independent of the other tests (runs alone, in any order): its own rotation, new material
    on stdin, /proc sampled while it runs; no value in any output, argv, env of the tool's
    children, the journal or a container's log. The other tests' runs are checked too."""
    s = rotation_demo
    remember_values(s)
    key, secret, _ = new_pair(s, tmp_path, "bybit", register=True)
    mine: list = []
    result = rotate_from_stdin(s, "bybit", key, secret, sampler_sink=mine)
    assert result.returncode == 0, result.output
    remember_values(s)
    cmdlines = [c for x in [*mine, *SAMPLERS] for c in x.cmdlines]
    environs = [e for x in [*mine, *SAMPLERS] for e in x.environs]
    assert sum(x.samples for x in mine) > 0, "the /proc sampler did not run"
    assert any("compose" in c and "up" in c for c in cmdlines), "it saw the tool's children"
    journal_text = (s.root / ".titan-deploy" / "state.json").read_text()
    texts = [result.stdout, result.stderr, *s.outputs, *cmdlines, *environs, journal_text]
    assert_no_canary(s, [*texts, container_logs(s.name)])
