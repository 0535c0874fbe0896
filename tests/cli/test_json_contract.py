"""The `--json` contract (README "Exit codes"): one JSON document on stdout and nothing else, with a
stable shape. Scripts and CI depend on these keys: changing them is a breaking change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPORT_KEYS = {"command", "ok", "exit_code", "summary", "counts", "findings", "rows", "data"}
FINDING_KEYS = {"severity", "code", "secret", "service", "message", "fix"}
ERROR_KEYS = {"command", "ok", "exit_code", "error"}


def assert_report_shape(
    doc: dict[str, Any], command: str, exit_code: int, finding_keys: set[str] = FINDING_KEYS
) -> None:
    """`finding_keys`: `up` adds `stage` to each finding (tests/cli/test_up_cli.py)."""
    assert set(doc) == REPORT_KEYS
    assert doc["command"] == command
    assert doc["exit_code"] == exit_code
    assert doc["ok"] is (exit_code == 0)
    assert isinstance(doc["summary"], str) and doc["summary"]
    assert set(doc["counts"]) == {"error", "warning"}
    assert isinstance(doc["rows"], list)
    assert isinstance(doc["data"], dict)
    for finding in doc["findings"]:
        assert set(finding) == finding_keys
        assert finding["severity"] in {"error", "warning", "info"}
        assert isinstance(finding["code"], str) and isinstance(finding["message"], str)
        for key in ("secret", "service", "fix"):
            assert finding[key] is None or isinstance(finding[key], str)
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    warnings = [f for f in doc["findings"] if f["severity"] == "warning"]
    assert doc["counts"] == {"error": len(errors), "warning": len(warnings)}


def run_json(cli, project: Path, *args: str, code: int) -> dict[str, Any]:
    result = cli("-C", project, "--json", *args)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


def test_check_secrets_report_pinned(cli, ready_project: Path) -> None:
    (ready_project / "secrets" / "gemini_api_key").write_bytes(b"short")
    doc = run_json(cli, ready_project, "check-secrets", code=1)
    assert_report_shape(doc, "check-secrets", 1)
    assert doc["findings"] == [
        {
            "severity": "error",
            "code": "S006",
            "secret": "gemini_api_key",
            "service": None,
            "message": (
                "secrets/gemini_api_key: api-key too short: 5 characters, at least 8 required"
            ),
            "fix": None,
        }
    ]
    assert doc["counts"] == {"error": 1, "warning": 0}
    ages = doc["data"].pop("ages")
    assert doc["data"] == {"fixed": [], "secrets": 13}  # 11 secrets and 2 configs
    row = {"secret", "file", "age_days", "max_age_days", "too_old"}
    assert [set(a) for a in ages] == [row] * 11
    assert doc["rows"] == []
    assert doc["summary"] == "secrets NOT ready: 1 error(s), 0 warning(s)"


def test_check_secrets_fix_report(cli, ready_project: Path) -> None:
    path = ready_project / "secrets" / "bybit_api_secret"
    os.chmod(path, 0o644)
    doc = run_json(cli, ready_project, "check-secrets", "--fix", code=0)
    assert_report_shape(doc, "check-secrets", 0)
    assert doc["data"]["fixed"] == [{"action": "chmod", "path": str(path)}]


def test_init_report(cli, titan_project: Path) -> None:
    doc = run_json(cli, titan_project, "init", code=0)
    assert_report_shape(doc, "init", 0)
    assert [set(row) for row in doc["rows"]] == [{"secret", "action"}] * 11
    assert {row["secret"]: row["action"] for row in doc["rows"]} == {
        "titan_db_password": "generated",
        "titan_hmac_secret": "generated",
        "binance_api_key": "to fill in",
        "binance_api_secret": "to fill in",
        "bybit_api_key": "to fill in",
        "bybit_api_secret": "to fill in",
        "gemini_api_key": "to fill in",
        "redis_password": "generated",
        "grafana_admin_password": "generated",
        "nats_user": "generated",
        "nats_password": "generated",
    }
    assert {f["code"] for f in doc["findings"]} == {"I001"}
    assert set(doc["data"]) == {"secrets_dir", "created_dir", "gitignore_added"}


def test_render_reports(cli, titan_project: Path) -> None:
    doc = run_json(cli, titan_project, "render", code=0)
    assert_report_shape(doc, "render", 0)
    assert doc["data"] == {
        "overlay": str(titan_project.resolve() / "docker-compose.secrets.yml"),
        "changed": False,
        "live": [],  # no consumer reloads live (README "Reload and proofs")
        # no secrets dir: the config cannot be rendered yet (README "Config files")
        "configs": {
            "redis_conf": "skipped: redis_conf: input file redis_password is missing or unreadable",
            "nats_auth_conf": "skipped: nats_auth_conf: input file nats_user is missing or "
            "unreadable",
        },
    }
    (titan_project / "docker-compose.secrets.yml").write_text("services: {}\n")
    doc = run_json(cli, titan_project, "render", "--check", code=1)
    assert_report_shape(doc, "render", 1)
    assert doc["findings"] == []
    assert doc["data"]["changed"] is True


def test_lint_report(cli, titan_project: Path) -> None:
    doc = run_json(cli, titan_project, "lint", code=0)
    assert_report_shape(doc, "lint", 0)
    assert doc["data"] == {
        "files": ["docker-compose.prod.yml", "docker-compose.secrets.yml"],
        "services": 13,
    }


@pytest.mark.parametrize("command", ["init", "check-secrets", "render", "lint"])
def test_error_document_for_exit_2(cli, titan_project: Path, command: str) -> None:
    (titan_project / "secrets.manifest.yml").write_text("version: 3\nsecrets: {}\n")
    result = cli("-C", titan_project, "--json", command)
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc == {
        "command": command,
        "ok": False,
        "exit_code": 2,
        "error": "secrets.manifest.yml:1: version: unsupported version (this titan-deploy reads "
        "version 1)",
    }
    assert set(doc) == ERROR_KEYS


def test_error_document_for_exit_3(cli, titan_project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = cli("-C", titan_project, "--json", "lint", env={"PATH": str(empty)})
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert set(doc) == ERROR_KEYS
    assert (doc["command"], doc["ok"], doc["exit_code"]) == ("lint", False, 3)
    assert doc["error"].startswith("Docker Compose v2 not found")


@pytest.mark.parametrize(
    "args",
    [
        ["init"],
        ["check-secrets"],
        ["check-secrets", "--fix"],
        ["render"],
        ["render", "--check"],
        ["lint"],
    ],
)
@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_json_prints_only_json_on_stdout(
    cli, ready_project: Path, args: list[str], verbose: list[str]
) -> None:
    os.chmod(ready_project / "secrets" / "bybit_api_key", 0o644)  # something to report / fix
    result = cli("-C", ready_project, "--json", *verbose, *args)
    assert result.exit_code in (0, 1)
    doc = json.loads(result.stdout)
    assert_report_shape(doc, args[0], result.exit_code)
    assert result.stdout.startswith("{") and result.stdout.endswith("}\n")
    assert result.stderr == ""
