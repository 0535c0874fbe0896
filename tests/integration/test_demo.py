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
    assert ("nats", "nats_auth_conf") in pairs  # a live-reloaded directory mount (nats/auth.conf)
    assert ("titan-hunter", "nats_password") in pairs
    assert ("redis", "redis.conf") in pairs  # the rendered config (configs: redis_conf)
    assert ("titan-brain", "redis_password") in pairs
    # per the manifest: postgres 1, brain 5, execution 7, sentinel 7, scavenger 6, ai-quant 7,
    # redis 2, grafana 1, hunter 2, nats 1 (nats_user beside nats_password)
    assert len(pairs) == 39
    assert all(not r["problem"] for r in doc["rows"])


def test_demo_status_shows_every_service_verified(demo):
    status = demo.td("--json", "status")
    assert status.returncode == 0, status.output
    rows = {r["service"]: r for r in json.loads(status.stdout)["rows"]}
    assert rows["grafana"]["secrets"] == "1/1 verified"
    assert rows["titan-ai-quant"]["secrets"] == "7/7 verified"
    assert rows["nats"]["secrets"] == "1/1 verified"
    assert rows["redis"]["secrets"] == "2/2 verified"  # redis_password and redis.conf
    assert all(r["state"] == "running" for r in rows.values())
    human = demo.td("status")
    assert "titan-brain" in human.stdout


def test_demo_outputs_hold_no_secret(demo):
    demo.td("-v", "verify")
    demo.td("--json", "status")
    assert_no_canary(demo)
