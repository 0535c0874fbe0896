"""`status` on the agent path with a pinned version the backend lost (ops/agent_status.py,
core/backendhold.py): a B007 error naming the entry and version, exit 1, never a traceback or
exit 3; the real servers: tests/integration/test_backend_pins.py."""

from __future__ import annotations

import json

from tests.unit.ops.test_agent_status_audit import agent_project, canaries

__all__ = ["agent_project"]


def test_status_reports_a_pinned_version_the_backend_lost(agent_project, cli) -> None:
    root, _engine, _backend = agent_project
    pins = root / ".titan-deploy" / "backend-pins.json"
    pins.write_text(json.dumps({"api_token": {"base": 7}}))  # the backend has versions 1, 2
    result = cli("-C", root, "-p", "tdagent", "--json", "status")
    canaries().assert_clean(result.stdout + result.stderr, "status")
    assert result.exit_code == 1, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    [lost] = [f for f in doc["findings"] if f["code"] == "B007"]
    assert lost["severity"] == "error" and lost["secret"] == "api_token"
    assert "pinned version 7 is missing" in lost["message"]
    assert [(r["service"], r["secrets"]) for r in doc["rows"]] == [("web", "-")]
