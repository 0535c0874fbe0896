"""core/sarif.py: a Report as SARIF values (levels, rules, locations, suppressions)."""

from __future__ import annotations

import dataclasses

from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.sarif import LEVELS, sarif_log


def _with(finding: Finding, **extra: object) -> Finding:
    """`finding` with fields a newer Finding carries (file, line, waived), where it has them."""
    names = {f.name for f in dataclasses.fields(Finding)}
    return dataclasses.replace(finding, **{k: v for k, v in extra.items() if k in names})


def test_levels_rules_and_locations() -> None:
    findings = [
        Finding("error", "L001", "a secret in environment:", service="api", secret="db"),
        Finding("warning", "L004", "unused", secret="x"),
        Finding("info", "L004", "note", secret="y"),
        Finding("error", "ZZ99", "unknown code"),
    ]
    doc = sarif_log(Report("lint", findings=findings), "9.9")
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["L001", "L004", "ZZ99"]
    assert run["tool"]["driver"]["rules"][2]["shortDescription"]["text"] == "ZZ99"
    assert [r["level"] for r in run["results"]] == ["error", "warning", "note", "error"]
    assert [r["ruleIndex"] for r in run["results"]] == [0, 1, 1, 2]
    assert run["results"][0]["locations"] == [
        {
            "logicalLocations": [
                {"name": "api", "kind": "module"},
                {"name": "db", "kind": "resource"},
            ]
        }
    ]
    assert "locations" not in run["results"][3]
    assert run["invocations"][0]["exitCode"] == 1
    assert set(LEVELS.values()) == {"error", "warning", "note"}


def test_file_line_and_waiver_when_the_finding_has_them() -> None:
    base = Finding("error", "L015", "literal value", service="api")
    finding = _with(base, file="docker compose.yml", line=7, waived="legacy", waived_until=None)
    result = sarif_log(Report("lint", findings=[finding]), "1")["runs"][0]["results"][0]
    if hasattr(finding, "file"):
        physical = result["locations"][0]["physicalLocation"]
        assert physical == {
            "artifactLocation": {"uri": "docker%20compose.yml"},
            "region": {"startLine": 7},
        }
    if hasattr(finding, "waived"):
        assert result["suppressions"] == [
            {"kind": "external", "status": "accepted", "justification": "legacy"}
        ]
