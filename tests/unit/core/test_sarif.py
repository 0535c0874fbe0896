"""core/sarif.py: a Report as SARIF values (levels, rules, locations, suppressions)."""

from __future__ import annotations

import dataclasses

import pytest

from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.sarif import LEVELS, artifact_location, sarif_failure, sarif_log

ROOT = "/srv/titan prod"


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
    doc = sarif_log(Report("lint", findings=findings), "9.9", ROOT)
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
    result = sarif_log(Report("lint", findings=[finding]), "1", ROOT)["runs"][0]["results"][0]
    if hasattr(finding, "file"):
        physical = result["locations"][0]["physicalLocation"]
        assert physical == {
            "artifactLocation": {"uri": "docker%20compose.yml", "uriBaseId": "PROJECTROOT"},
            "region": {"startLine": 7},
        }
    if hasattr(finding, "waived"):
        assert result["suppressions"] == [
            {"kind": "external", "status": "accepted", "justification": "legacy"}
        ]


def test_the_run_says_where_projectroot_is() -> None:
    """Every relative uri is relative to PROJECTROOT, which the run itself defines: the project
    dir's file URI, ending in `/` (percent-encoded; a trailing `/` or `//` given is one `/`)."""
    for root in (ROOT, ROOT + "/", "/" + ROOT):
        run = sarif_log(Report("lint"), "1", root)["runs"][0]
        assert run["originalUriBaseIds"] == {
            "PROJECTROOT": {
                "uri": "file:///srv/titan%20prod/",
                "description": {"text": "the project directory"},
            }
        }
    assert (
        sarif_log(Report("lint"), "1", "/")["runs"][0]["originalUriBaseIds"]["PROJECTROOT"]["uri"]
        == "file:///"
    )
    failed = sarif_failure("lint", "bad manifest", 2, "1", ROOT)["runs"][0]
    assert failed["originalUriBaseIds"]["PROJECTROOT"]["uri"] == "file:///srv/titan%20prod/"
    assert "originalUriBaseIds" not in sarif_failure("lint", "usage", 2, "1")["runs"][0]
    with pytest.raises(ValueError):
        sarif_log(Report("lint"), "1", "relative/dir")


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("docker-compose.yml", {"uri": "docker-compose.yml", "uriBaseId": "PROJECTROOT"}),
        ("./svc/.env.local", {"uri": "svc/.env.local", "uriBaseId": "PROJECTROOT"}),
        ("svc/../a b.yml", {"uri": "a%20b.yml", "uriBaseId": "PROJECTROOT"}),
        ("a:b#c?.yml", {"uri": "a%3Ab%23c%3F.yml", "uriBaseId": "PROJECTROOT"}),
        ("\udcff.log", {"uri": "%FF.log", "uriBaseId": "PROJECTROOT"}),
        (f"{ROOT}/logs/app.log", {"uri": "logs/app.log", "uriBaseId": "PROJECTROOT"}),
        ("../shared/base.yml", {"uri": "file:///srv/shared/base.yml"}),
        ("/var/log/app 1.log", {"uri": "file:///var/log/app%201.log"}),
        (f"{ROOT}-other/x.yml", {"uri": "file:///srv/titan%20prod-other/x.yml"}),
        ("//etc/x.yml", {"uri": "file:///etc/x.yml"}),
    ],
)
def test_a_file_inside_the_project_is_relative_to_projectroot_else_absolute(
    file: str, expected: dict[str, str]
) -> None:
    """The class: every way a finding names a file (relative to the project dir, with `./` or
    `..`, absolute inside or outside it, characters a URI cannot hold, bytes that are not UTF-8)
    ends as a project-relative uri with PROJECTROOT, or an absolute file URI; never a bare
    relative path a viewer would resolve against its own working dir."""
    assert artifact_location(file, ROOT) == expected
    finding = Finding("error", "A001", "hit", file=file, line=3)
    result = sarif_log(Report("audit-logs", findings=[finding]), "1", ROOT)["runs"][0]["results"]
    assert result[0]["locations"][0]["physicalLocation"]["artifactLocation"] == expected
