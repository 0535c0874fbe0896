"""core/lint_base.py through lint_config: what a base compose file wrote that the merged config
no longer shows (the overlay took it out) is still in git: literal values (L015), a secret's
value (L012), a managed secret declared `external:` / `environment:` (L014); each with the
base file and line, never the value."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from titan_deploy.core.lint import LintEnv, lint_config
from titan_deploy.core.lint_base import is_literal
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import plan_overlay
from titan_deploy.core.yamlpos import load_located

MANIFEST = parse_manifest_text(
    """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  db_password:
    kind: password
    consumers: {db: POSTGRES_PASSWORD_FILE, app: [DB_PASSWORD_FILE, TITAN_DB_PASSWORD_FILE]}
"""
)
PLAN = plan_overlay(MANIFEST)


def merged(app_env: dict[str, str] | None = None) -> dict[str, Any]:
    """The merged config after the overlay took the plain passwords out."""
    return {
        "services": {
            "db": {
                "image": "postgres:16",
                "environment": {
                    "POSTGRES_USER": "app",
                    "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
                },
                "secrets": [{"source": "db_password", "target": "db_password"}],
            },
            "app": {
                "image": "app:1",
                "environment": {
                    "NODE_ENV": "production",
                    "DB_PASSWORD_FILE": "/run/secrets/db_password",
                    "TITAN_DB_PASSWORD_FILE": "/run/secrets/db_password",
                    **(app_env or {}),
                },
                "secrets": [{"source": "db_password", "target": "db_password"}],
            },
        },
        "secrets": {"db_password": {"file": "/srv/secrets/db_password"}},
    }


def lint(base_text: str, config: dict[str, Any] | None = None, values=None) -> list:
    base = load_located(base_text, "docker-compose.yml")
    env = LintEnv(base=(base,), values=values or {})
    return lint_config(config or merged(), MANIFEST, PLAN, "/srv/secrets", env)


def test_literal_values_the_overlay_took_out_are_reported_with_file_and_line() -> None:
    canary = secrets.token_urlsafe(18)
    findings = lint(
        f"""\
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: {canary}
  app:
    image: app:1
    environment:
      - NODE_ENV=production
      - DB_PASSWORD={canary}
      - TITAN_DB_PASSWORD=${{TITAN_DB_PASSWORD}}
"""
    )
    assert [(f.code, f.severity, f.service, f.secret, f.file, f.line) for f in findings] == [
        ("L015", "warning", "db", "db_password", "docker-compose.yml", 6),
        ("L015", "warning", "app", "db_password", "docker-compose.yml", 11),
    ]
    assert "POSTGRES_PASSWORD" in findings[0].message
    assert canary not in json.dumps([f.to_dict() for f in findings])


def test_a_secret_value_in_a_base_file_is_l012_with_its_line() -> None:
    value = secrets.token_urlsafe(24)
    findings = lint(
        f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: '{value}'\n",
        values={"db_password": value.encode()},
    )
    assert [(f.code, f.severity, f.secret, f.line) for f in findings] == [
        ("L012", "error", "db_password", 4)
    ]
    assert value not in json.dumps([f.to_dict() for f in findings])


def test_entries_still_in_the_merged_config_are_left_to_the_merged_rules() -> None:
    findings = lint(
        "services:\n  app:\n    environment: {NODE_ENV: production, LOG: debug-x}\n",
        merged({"LOG": "debug-x"}),
    )
    assert findings == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("external: true", "declared `external:`"),
        ("external: {name: prod_db_password}", "declared `external:`"),
        ("environment: DB_PASSWORD", "read from an environment variable"),
    ],
)
def test_l014_a_managed_secret_sourced_elsewhere_in_a_base_file(key: str, problem: str) -> None:
    findings = lint(f"services: {{}}\nsecrets:\n  db_password:\n    {key}\n")
    assert [(f.code, f.severity, f.secret, f.file, f.line) for f in findings] == [
        ("L014", "error", "db_password", "docker-compose.yml", 4)
    ]
    assert problem in findings[0].message
    assert "file: ./secrets/db_password" in findings[0].fix or "./secrets/db_password" in (
        findings[0].fix or ""
    )
    assert "DB_PASSWORD" not in findings[0].message  # a variable name is not echoed either


def test_l014_ignores_secrets_the_manifest_does_not_manage_and_file_entries() -> None:
    base = "services: {}\nsecrets:\n  other: {external: true}\n  db_password: {file: ./x}\n"
    assert lint(base) == []


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("hunter2-literal", True),
        ("12345", True),
        ("${DB_PASSWORD}", False),
        ("$DB_PASSWORD", False),
        ("${DB_PASSWORD:-changeme}", True),
        ("${DB_PASSWORD:?set it}", False),
        ("postgres://app:${DB_PASSWORD}@db/app", False),
        ("postgres://app:s3cret@db/app", True),
        ("/run/secrets/db_password", False),
        ("", False),
        ("$$literal", True),
    ],
)
def test_is_literal(text: str, literal: bool) -> None:
    assert is_literal(text) is literal


def test_l014_names_the_file_of_a_secret_with_file() -> None:
    manifest = parse_manifest_text(
        "version: 1\ncompose_files: [docker-compose.yml]\nsecrets:\n  Db_Pass:\n"
        "    kind: password\n    file: db/password.txt\n"
        "    consumers: {db: POSTGRES_PASSWORD_FILE}\n"
    )
    base = load_located("services: {}\nsecrets:\n  Db_Pass:\n    external: true\n", "c.yml")
    config = {"services": {}, "secrets": {"Db_Pass": {"external": True}}}
    findings = lint_config(config, manifest, plan_overlay(manifest), "/s", LintEnv(base=(base,)))
    fix = next(f.fix for f in findings if f.code == "L014" and f.file == "c.yml") or ""
    assert "./secrets/db/password.txt:" in fix and "secrets/Db_Pass" not in fix
