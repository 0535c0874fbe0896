"""`rotate exchange` with a `probe:` on the real demo (issue 12 item 5): after each consumer's
restart, verify and log proof, `python3 -m standin test-order binance` runs inside it (docker
exec) and sends a lab-mode minimum-size test order, which the demo exchange accepts only for a
registered pair with the trade permission. A pair registered read-only connects (the log line
appears) but its test order is refused: the probe fails and the rotation rolls back exactly as
for a missing log line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.rotation_kit import (
    assert_consistent,
    assert_no_canary,
    container_logs,
    journal,
    remember_values,
)
from tests.integration.test_rotation_exchange import CONSUMERS, FAST, connected, new_pair, td

pytestmark = pytest.mark.docker

PROBE = "    probe: [python3, -m, standin, test-order, binance]\n"
MARKER = "    verify_log: 'Exchange connected \\(binance\\)'\n"


@pytest.fixture
def probing(rotation_demo):
    """The session's demo stack with the binance group's `probe:` in its manifest (removed
    again afterwards: the stack is shared by every rotation test)."""
    path = rotation_demo.root / "secrets.manifest.yml"
    original = path.read_text()
    assert original.count(MARKER) == 2
    path.write_text(original.replace(MARKER, MARKER + PROBE))
    try:
        yield rotation_demo
    finally:
        path.write_text(original)


def versions(doc: dict) -> dict:
    """(secret, service) -> the version a consumer mounts, leaving out the base file (None)."""
    out = {}
    for secret, services in (doc.get("assignments") or {}).items():
        for service, a in services.items():
            if a.get("version") is not None:
                out[(secret, service)] = a["version"]
    return out


def rotate(stack, files: list[str], log_timeout: str):
    argv = ["--json", "rotate", "exchange", "binance", "--from-file", files[0]]
    argv += ["--from-file", files[1], "--log-timeout", log_timeout, *FAST]
    result = td(stack, *argv)
    return result, json.loads(result.stdout)


def register_read_only(stack, files: list[str]) -> None:
    script = str(stack.root / "demo/register_exchange_key.py")
    registry = str(stack.root / ".titan-deploy/demo")
    argv = [sys.executable, script, "binance", *files, "--registry", registry, "--read-only"]
    subprocess.run(argv, check=True, capture_output=True)


def test_a_probe_that_passes_in_every_consumer_completes_the_rotation(probing, tmp_path):
    s = probing
    remember_values(s)
    key, _, files = new_pair(s, tmp_path, "binance", register=True)
    result, doc = rotate(s, files, "30")
    assert result.returncode == 0, result.output
    assert doc["data"]["outcome"] == "completed"
    probes = [r for r in doc["rows"] if r["action"] == "probe"]
    assert len(probes) == len(CONSUMERS) and all(r["status"] == "done" for r in probes)
    assert (s.root / "secrets" / "binance_api_key").read_bytes() == key
    assert_consistent(s)


def test_a_refused_test_order_rolls_back_like_a_missing_log_line(probing, tmp_path):
    s = probing
    remember_values(s)
    before = versions(journal(s))
    old_key = (s.root / "secrets" / "binance_api_key").read_bytes()
    _, _, files = new_pair(s, tmp_path, "binance", register=False)
    register_read_only(s, files)  # connects, but no trade permission: the probe must fail
    result, doc = rotate(s, files, "8")
    assert result.returncode == 1, result.output
    assert doc["data"]["outcome"] == "rolled back"
    reason = doc["data"]["reason"]
    assert reason.startswith("probe `python3 -m standin test-order binance` did not pass in")
    assert "(exit 1)" in reason
    forward = [r for r in doc["rows"] if r["phase"] != "rollback"]
    assert [r["action"] for r in forward if r["status"] == "done"][-1] == "check-log"  # log ok
    rollback = [r["action"] for r in doc["rows"] if r["phase"] == "rollback"]
    assert rollback[:4] == ["repoint", "verify", "check-log", "probe"]
    assert "NOT accepted" in doc["summary"]
    after = versions(assert_consistent(s))
    assert {k: v for k, v in after.items() if v is not None} == before  # everyone on the old
    assert (s.root / "secrets" / "binance_api_key").read_bytes() == old_key
    assert connected(s, "binance") == dict.fromkeys(CONSUMERS, 1.0)
    remember_values(s)
    assert_no_canary(s, [result.stdout, result.stderr, container_logs(s.name)])
