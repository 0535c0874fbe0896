"""History and secret age on a real engine: `up` and `down` each append one record naming the
project, its services and secrets (never a value); `status` shows each secret's age."""

from __future__ import annotations

import json

import pytest

from tests.integration.stackkit import assert_no_canary

pytestmark = pytest.mark.docker


def test_up_and_down_are_recorded_and_status_shows_ages(stack) -> None:
    s = stack()
    before = len(json.loads(s.td("--json", "history").stdout)["data"]["records"])
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 0, up.output
    status = s.td("--json", "status")
    assert status.returncode == 0, status.output
    doc = json.loads(status.stdout)
    assert {a["secret"] for a in doc["data"]["ages"]} >= {"db_password", "api_token"}
    assert all(a["age_days"] == 0 for a in doc["data"]["ages"])
    assert "oldest secret: " in doc["summary"]
    assert s.td("down").returncode == 0
    history = s.td("--json", "history", "--verify")
    assert history.returncode == 0, history.output
    records = json.loads(history.stdout)["data"]["records"]
    assert [r["command"] for r in records[before:]] == ["up", "down"]
    up_record = records[before]
    assert up_record["outcome"] == {"exit_code": 0, "ok": True}
    assert up_record["what"]["project"] == s.name
    assert set(up_record["what"]["services"]) == {"signer", "reader"}
    assert {"db_password", "api_token"} <= set(up_record["what"]["secrets"])
    assert records[before + 1]["what"]["project"] == s.name
    log = (s.root / ".titan-deploy" / "history.jsonl").read_text()
    assert_no_canary(s, log)
