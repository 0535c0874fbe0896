"""The demo stack on a real engine: up -> verify all green, status, and the canary rule."""

from __future__ import annotations

import json

import pytest

from tests.integration.stackkit import assert_no_canary

pytestmark = pytest.mark.docker


def test_demo_up_verifies_every_pair(demo):
    verify = demo.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    doc = json.loads(verify.stdout)
    pairs = {(r["service"], r["secret"]) for r in doc["rows"]}
    assert ("grafana", "grafana_admin_password") in pairs
    assert ("postgres", "titan_db_password") in pairs
    assert ("titan-ai-quant", "gemini_api_key") in pairs
    assert ("nats", "nats_auth.conf") in pairs  # a target-only consumer: its file name
    assert ("titan-hunter", "nats_password") in pairs
    assert ("redis", "redis.conf") in pairs  # the rendered config (configs: redis_conf)
    assert ("titan-brain", "redis_password") in pairs
    # per the manifest: postgres 1, brain 4, execution 6, sentinel 6, scavenger 5, ai-quant 6,
    # redis 2, grafana 1, hunter 1, nats 1
    assert len(pairs) == 33
    assert all(not r["problem"] for r in doc["rows"])


def test_demo_status_shows_every_service_verified(demo):
    status = demo.td("--json", "status")
    assert status.returncode == 0, status.output
    rows = {r["service"]: r for r in json.loads(status.stdout)["rows"]}
    assert rows["grafana"]["secrets"] == "1/1 verified"
    assert rows["titan-ai-quant"]["secrets"] == "6/6 verified"
    assert rows["nats"]["secrets"] == "1/1 verified"
    assert rows["redis"]["secrets"] == "2/2 verified"  # redis_password and redis.conf
    assert all(r["state"] == "running" for r in rows.values())
    human = demo.td("status")
    assert "titan-brain" in human.stdout


def test_demo_outputs_hold_no_secret(demo):
    demo.td("-v", "verify")
    demo.td("--json", "status")
    assert_no_canary(demo)
