"""lint_config (core/lint.py): one test per rule on dicts shaped like
`docker compose config --no-interpolate --format json`, then the real compose binary end to end."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from titan_deploy.core.lint import file_base, lint_config
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import plan_overlay

MANIFEST = parse_manifest_text(
    """\
version: 1
secrets:
  db_password:
    kind: password
    consumers: {db: POSTGRES_PASSWORD_FILE, app: DB_PASSWORD_FILE}
  api_key:
    kind: api-key
    consumers: {app: API_KEY_FILE}
  admin_password:
    kind: password
    consumers: {grafana: GF_SECURITY_ADMIN_PASSWORD__FILE}
"""
)
PLAN = plan_overlay(MANIFEST)
ROOT = "/srv/titan"


def clean_config() -> dict[str, Any]:
    """What compose prints for prod + overlay with interpolation off (env as K=V list)."""
    return {
        "name": "titan",
        "services": {
            "db": {
                "image": "postgres:16",
                "environment": [
                    "POSTGRES_USER=titan",
                    "POSTGRES_PASSWORD_FILE=/run/secrets/db_password",
                ],
                "secrets": [{"source": "db_password", "target": "db_password"}],
            },
            "app": {
                "image": "${REGISTRY:-ghcr.io/x}/app:${TAG:-latest}",
                "environment": [
                    "NODE_ENV=production",
                    "NATS_URL=nats://nats:4222",
                    "DB_PASSWORD_FILE=/run/secrets/db_password",
                    "API_KEY_FILE=/run/secrets/api_key",
                ],
                "secrets": [
                    {"source": "db_password", "target": "db_password"},
                    {"source": "api_key", "target": "api_key"},
                ],
            },
            "grafana": {
                "image": "grafana/grafana:11.3.0",
                "environment": [
                    "GF_SECURITY_ADMIN_USER=admin",
                    "GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/admin_password",
                ],
                "secrets": [{"source": "admin_password", "target": "admin_password"}],
            },
            "redis": {"image": "redis:7", "command": ["redis-server"]},
        },
        "secrets": {
            name: {"file": f"{ROOT}/secrets/{name}", "name": f"titan_{name}"}
            for name in MANIFEST.secrets
        },
    }


def lint(config: dict[str, Any]) -> list:
    return lint_config(config, MANIFEST, PLAN, "secrets")


def with_env(service: str, *entries: str) -> dict[str, Any]:
    config = clean_config()
    config["services"][service]["environment"].extend(entries)
    return config


def only(findings: list, code: str) -> list:
    return [f for f in findings if f.code == code]


def test_clean_config_has_no_findings() -> None:
    assert lint(clean_config()) == []


def test_environment_as_a_mapping_is_read_too() -> None:
    config = clean_config()
    env = config["services"]["app"]["environment"]
    config["services"]["app"]["environment"] = dict(item.split("=", 1) for item in env)
    assert lint(config) == []


def test_file_base() -> None:
    assert file_base("POSTGRES_PASSWORD_FILE") == "POSTGRES_PASSWORD"
    assert file_base("GF_SECURITY_ADMIN_PASSWORD__FILE") == "GF_SECURITY_ADMIN_PASSWORD"
    assert file_base("PROFILE") is None


# --- L001: a secret in plain environment ---------------------------------------------------------


def test_l001_secret_looking_value_under_a_secret_name() -> None:
    value = "s3cr3t-Value-Nobody-Should-See"
    findings = lint(with_env("app", f"EXCHANGE_API_SECRET={value}"))
    assert [(f.code, f.severity, f.service) for f in findings] == [("L001", "error", "app")]
    assert findings[0].message == (
        "environment EXCHANGE_API_SECRET holds a secret-looking value in plain environment"
    )
    assert findings[0].fix == "mount it as a secret and set EXCHANGE_API_SECRET_FILE instead"
    assert value not in json.dumps([f.to_dict() for f in findings])


@pytest.mark.parametrize(
    "entry",
    [
        "BINANCE_API_KEY=${BINANCE_API_KEY}",
        "X=$BINANCE_API_KEY",
        "DSN=postgres://u:${DB_PASSWORD}@db",
    ],
)
def test_l001_interpolation_of_a_secret_variable(entry: str) -> None:
    findings = lint(with_env("app", entry))
    assert [(f.code, f.severity, f.service) for f in findings] == [("L001", "error", "app")]
    assert "interpolates $" in findings[0].message


def test_l001_passthrough_from_the_host_environment() -> None:
    findings = lint(with_env("app", "BYBIT_API_SECRET"))  # list form without "=": passthrough
    assert [(f.code, f.service) for f in findings] == [("L001", "app")]
    assert findings[0].message == (
        "environment BYBIT_API_SECRET is passed through from the host environment"
    )


def test_l001_long_random_value_under_an_innocent_name_is_a_warning() -> None:
    findings = lint(with_env("app", "SIGNATURE=" + "ab12" * 16))
    assert [(f.code, f.severity) for f in findings] == [("L001", "warning")]
    assert "ab12" not in findings[0].message


@pytest.mark.parametrize(
    "entry",
    [
        "TITAN_LOG_LEVEL=info",
        "TITAN_LISTENER_URLS=http://titan-execution:3002,http://titan-sentinel:8084",
        "IMAGE_DIGEST_PATH=/var/lib/app/0123456789abcdef0123456789abcdef01",
        "TITAN_HMAC_KEY_ID=k2",
        "PORT=${PORT:-3000}",
        "TOKEN_TTL_SECONDS=",
    ],
)
def test_l001_ordinary_values_pass(entry: str) -> None:
    assert lint(with_env("app", entry)) == []


# --- L002: X and X_FILE --------------------------------------------------------------------------


def test_l002_both_x_and_x_file() -> None:
    findings = lint(with_env("db", "POSTGRES_PASSWORD=${POSTGRES_PASSWORD}"))
    both = only(findings, "L002")
    assert [(f.severity, f.service) for f in both] == [("error", "db")]
    assert both[0].message == (
        "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set: the service may ignore the "
        "file (postgres refuses to start)"
    )
    assert both[0].fix == "remove POSTGRES_PASSWORD from the service's environment"


def test_l002_grafana_double_underscore_file() -> None:
    findings = lint(with_env("grafana", "GF_SECURITY_ADMIN_PASSWORD"))
    both = only(findings, "L002")
    assert [f.service for f in both] == ["grafana"]
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in both[0].message


def test_l002_empty_x_still_counts() -> None:
    config = clean_config()
    config["services"]["db"]["environment"] = dict(
        POSTGRES_PASSWORD="", POSTGRES_PASSWORD_FILE="/run/secrets/db_password"
    )
    assert [f.code for f in lint(config)] == ["L002"]


# --- L003: a consumer that does not exist --------------------------------------------------------


def test_l003_consumer_missing_from_the_config() -> None:
    config = clean_config()
    del config["services"]["grafana"]
    findings = lint(config)
    assert [(f.code, f.severity, f.service) for f in only(findings, "L003")] == [
        ("L003", "error", "grafana")
    ]
    assert only(findings, "L003")[0].message == (
        "manifest consumer grafana is not a service of the merged compose config"
    )


# --- L004: a manifest secret nobody consumes -----------------------------------------------------


def test_l004_secret_consumed_by_nobody() -> None:
    config = clean_config()
    svc = config["services"]["grafana"]
    svc["secrets"] = []
    svc["environment"] = ["GF_SECURITY_ADMIN_USER=admin"]
    findings = lint(config)
    assert [(f.code, f.severity, f.secret) for f in only(findings, "L004")] == [
        ("L004", "warning", "admin_password")
    ]


def test_l004_secret_without_consumers_in_the_manifest() -> None:
    manifest = parse_manifest_text(
        "version: 1\nsecrets:\n  spare: {kind: password}\n"
        "  db_password: {kind: password, consumers: {db: POSTGRES_PASSWORD_FILE}}\n"
    )
    config = clean_config()
    config["secrets"] = {"db_password": config["secrets"]["db_password"]}
    for name in ("app", "grafana"):
        del config["services"][name]
    findings = lint_config(config, manifest, plan_overlay(manifest), "secrets")
    assert [(f.code, f.secret) for f in findings] == [("L004", "spare")]
    assert findings[0].message == "secret spare is consumed by no service"


# --- L005: a declared secret the manifest does not know ------------------------------------------


def test_l005_secret_declared_but_not_in_the_manifest() -> None:
    config = clean_config()
    config["secrets"]["okx_api_key"] = {"file": f"{ROOT}/secrets/okx_api_key", "name": "x"}
    findings = lint(config)
    assert [(f.code, f.severity, f.secret) for f in findings] == [("L005", "error", "okx_api_key")]
    assert findings[0].message == (
        "compose declares secret okx_api_key, which the manifest does not know"
    )


# --- L006: a consumer that does not mount its secret or is not pointed at it ---------------------


def test_l006_consumer_without_the_mount() -> None:
    config = clean_config()
    config["services"]["app"]["secrets"] = [{"source": "db_password", "target": "db_password"}]
    findings = only(lint(config), "L006")
    assert [(f.service, f.secret, f.message) for f in findings] == [
        ("app", "api_key", "does not mount api_key at /run/secrets/api_key")
    ]


def test_l006_mount_under_another_target() -> None:
    config = clean_config()
    config["services"]["db"]["secrets"] = [
        {"source": "db_password", "target": "/run/secrets/pg_pass"}
    ]
    assert [(f.code, f.service) for f in lint(config)] == [("L006", "db")]


def test_l006_absolute_target_under_run_secrets_is_the_same_mount() -> None:
    config = clean_config()
    config["services"]["db"]["secrets"] = [
        {"source": "db_password", "target": "/run/secrets/db_password"}
    ]
    assert lint(config) == []


def test_l006_file_env_pointing_elsewhere() -> None:
    config = clean_config()
    env = config["services"]["app"]["environment"]
    env[env.index("API_KEY_FILE=/run/secrets/api_key")] = "API_KEY_FILE=/etc/api_key"
    findings = lint(config)
    assert [(f.code, f.service, f.secret, f.message) for f in findings] == [
        ("L006", "app", "api_key", "API_KEY_FILE does not point at /run/secrets/api_key")
    ]


# --- L007: a secret read from outside the secrets dir --------------------------------------------


def test_l007_secret_file_outside_the_secrets_dir() -> None:
    config = clean_config()
    config["secrets"]["api_key"] = {"file": "/home/op/keys/api_key", "name": "titan_api_key"}
    findings = lint(config)
    assert [(f.code, f.severity, f.secret) for f in findings] == [("L007", "error", "api_key")]
    assert findings[0].message == "secret api_key is read from outside the secrets dir"


@pytest.mark.parametrize(
    "path", ["/tmp/secrets/api_key", "/srv/titan/secrets/old/api_key", "/srv/other/secrets/api_key"]
)
def test_l007_a_dir_merely_named_secrets_elsewhere_is_outside(path: str) -> None:
    config = clean_config()
    config["secrets"]["api_key"] = {"file": path, "name": "titan_api_key"}
    findings = lint_config(config, MANIFEST, PLAN, f"{ROOT}/secrets")
    assert [(f.code, f.secret) for f in findings] == [("L007", "api_key")]


def test_l007_versions_in_the_secrets_dir_are_inside() -> None:
    config = clean_config()
    config["secrets"]["api_key"] = {"file": f"{ROOT}/secrets/api_key.v3", "name": "x"}
    assert lint_config(config, MANIFEST, PLAN, f"{ROOT}/secrets") == []
    assert lint(config) == []


def test_l007_external_or_environment_secret_is_not_a_file() -> None:
    config = clean_config()
    config["secrets"]["api_key"] = {"external": True, "name": "api_key"}
    assert lint(config) == []


def test_findings_are_deterministic() -> None:
    config = with_env("app", "A_TOKEN", "B_PASSWORD=${B_PASSWORD}")
    del config["services"]["grafana"]
    first = [f.to_dict() for f in lint(config)]
    assert first == [f.to_dict() for f in lint(copy.deepcopy(config))]


# --- the real compose binary through `titan-deploy lint` -----------------------------------------


def _add_env(compose_file: Path, service: str, key: str, value: str) -> None:
    doc = compose_file.read_text()
    marker = f"  {service}:\n"
    head, tail = doc.split(marker, 1)
    env_at = tail.index("    environment:\n") + len("    environment:\n")
    tail = tail[:env_at] + f"      {key}: {value}\n" + tail[env_at:]
    compose_file.write_text(head + marker + tail)
    yaml.safe_load(compose_file.read_text())  # still valid YAML


def test_real_compose_clean_project_passes(titan_project: Path, cli) -> None:
    result = cli("-C", titan_project, "--json", "lint")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["findings"] == []
    assert doc["data"]["files"] == ["docker-compose.prod.yml", "docker-compose.secrets.yml"]


def test_real_compose_rendered_overlay_passes(titan_project: Path, cli) -> None:
    (titan_project / "docker-compose.secrets.yml").unlink()
    assert cli("-C", titan_project, "render").exit_code == 0
    assert cli("-C", titan_project, "lint").exit_code == 0


def test_real_compose_secret_var_in_env_fails_without_printing_it(titan_project: Path, cli) -> None:
    canary = os.urandom(24).hex()
    _add_env(
        titan_project / "docker-compose.prod.yml",
        "titan-execution",
        "BINANCE_API_KEY",
        "${BINANCE_API_KEY}",
    )
    env = {"BINANCE_API_KEY": canary}
    human = cli("-C", titan_project, "lint", env=env)
    assert human.exit_code == 1, human.output
    assert "titan-execution" in human.stdout
    assert "BINANCE_API_KEY" in human.stdout
    as_json = cli("-C", titan_project, "--json", "lint", env=env)
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert [(f["code"], f["service"]) for f in doc["findings"]] == [
        ("L001", "titan-execution"),  # ${BINANCE_API_KEY} in plain environment
        ("L002", "titan-execution"),  # and BINANCE_API_KEY_FILE is set as well
    ]
    for result in (human, as_json, cli("-C", titan_project, "-v", "lint", env=env)):
        assert canary not in result.output
        assert canary[:12] not in result.output


def test_real_compose_secret_file_outside_the_project_secrets_dir(titan_project: Path, cli) -> None:
    overlay = titan_project / "docker-compose.secrets.yml"
    text = overlay.read_text()
    moved = '"./secrets/gemini_api_key"'
    assert moved in text
    overlay.write_text(text.replace(moved, '"./old/secrets/gemini_api_key"'))
    result = cli("-C", titan_project, "--json", "lint")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["secret"]) for f in findings] == [("L007", "gemini_api_key")]


def test_real_compose_missing_overlay_is_a_config_error(titan_project: Path, cli) -> None:
    (titan_project / "docker-compose.secrets.yml").unlink()
    result = cli("-C", titan_project, "lint")
    assert result.exit_code == 2
    assert "docker-compose.secrets.yml: file not found (run `titan-deploy render`)" in (
        result.stderr
    )


def test_real_compose_rejecting_the_files_is_a_config_error(titan_project: Path, cli) -> None:
    prod = titan_project / "docker-compose.prod.yml"
    prod.write_text(prod.read_text().replace("    image: redis:7-bookworm\n", "    image: [1]\n"))
    result = cli("-C", titan_project, "lint")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: compose rejects docker-compose.prod.yml")
    assert "Traceback" not in result.output
