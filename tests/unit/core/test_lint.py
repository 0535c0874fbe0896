"""lint_config (core/lint.py): one test per rule on dicts shaped like
`docker compose config --no-interpolate --format json`, then the real compose binary end to end."""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from titan_deploy.core.dotenv import EnvFileFacts, scan_env_text
from titan_deploy.core.lint import LintEnv, file_base, lint_config
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import plan_overlay
from titan_deploy.project import interpolation_env_files

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


@pytest.mark.parametrize("entry", ["PGUSER=${POSTGRES_USER}", "APP_DB_USER=${DB_USER}"])
def test_l001_a_variable_named_after_a_sensitive_false_secret_is_not_secret(entry: str) -> None:
    """`sensitive: false` is configuration (Manifest.insensitive): neither its name nor its
    file var's base makes a `${VAR}` secret-looking; a sensitive secret's still does."""
    manifest = parse_manifest_text(
        """\
version: 1
secrets:
  db_password:
    kind: password
    consumers: {db: POSTGRES_PASSWORD_FILE, app: DB_PASSWORD_FILE}
  db_user:
    kind: text
    sensitive: false
    consumers: {db: POSTGRES_USER_FILE}
"""
    )
    config = clean_config()
    config["services"]["app"]["environment"].append(entry)
    db = config["services"]["db"]
    db["environment"] = ["POSTGRES_USER_FILE=/run/secrets/db_user", *db["environment"][1:]]
    db["secrets"].append({"source": "db_user", "target": "db_user"})
    config["secrets"]["db_user"] = {"file": f"{ROOT}/secrets/db_user", "name": "titan_db_user"}
    findings = lint_config(config, manifest, plan_overlay(manifest), "secrets")
    assert only(findings, "L001") == [], [f.message for f in findings]


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
        "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (POSTGRES_PASSWORD by "
        "environment:): the postgres image refuses to start when POSTGRES_PASSWORD is non-empty"
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


def test_l004_an_input_read_only_through_its_config_is_consumed() -> None:
    """A secret whose only reader is a config (README "Config files": redis reads its password
    in redis.conf) is consumed: no L004."""
    from tests.projectkit import with_redis_conf

    manifest = parse_manifest_text(
        with_redis_conf("version: 1\nsecrets:\n  redis_password: {kind: password}\n")
    )
    config = clean_config()
    config["secrets"] = {
        "redis_conf": {"file": f"{ROOT}/secrets/redis.conf", "name": "titan_redis_conf"}
    }
    config["services"] = {
        "redis": {
            "image": "redis:7",
            "secrets": [{"source": "redis_conf", "target": "/run/secrets/redis.conf"}],
        }
    }
    findings = lint_config(config, manifest, plan_overlay(manifest), "secrets")
    assert only(findings, "L004") == [], [f.message for f in findings]


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
    assert only(lint_config(config, MANIFEST, PLAN, f"{ROOT}/secrets"), "L007") == []
    assert only(lint(config), "L007") == []


@pytest.mark.parametrize(
    "body",
    [
        {"file": f"{ROOT}/secrets/api_key.v3"},  # not the version the plan mounts
        {"file": f"{ROOT}/secrets/db_password"},  # another secret's file
        {"external": True, "name": "api_key"},  # a base file's external: won the merge
        {"environment": "API_KEY"},  # a base file's environment: won the merge
    ],
)
def test_l014_a_managed_secret_not_read_from_the_manifests_file(body: dict) -> None:
    """Issue 10 item 2: a base file's `secrets:` entry that wins over the overlay (a stale
    overlay, another file, external, environment) made `rotate db` report success on a stack
    reading the old file."""
    config = clean_config()
    config["secrets"]["api_key"] = body
    for findings in (lint(config), lint_config(config, MANIFEST, PLAN, f"{ROOT}/secrets")):
        assert [(f.code, f.severity, f.secret) for f in findings] == [("L014", "error", "api_key")]


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


def test_real_compose_rejecting_the_files_is_a_finding(titan_project: Path, cli) -> None:
    prod = titan_project / "docker-compose.prod.yml"
    prod.write_text(prod.read_text().replace("    image: redis:7-bookworm\n", "    image: [1]\n"))
    result = cli("-C", titan_project, "--json", "lint")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [f["code"] for f in findings] == ["L016"]
    assert findings[0]["message"].startswith("compose rejects docker-compose.prod.yml")
    assert "Traceback" not in result.output


# --- env files, the interpolation .env and secret values (LintEnv) -------------------------------

DB_ENV = f"{ROOT}/db.env"


def env_facts(text: str, path: str = DB_ENV, values: dict | None = None, raw: bool = False):
    return scan_env_text(text, path, PurePosixPath(path).name, values or {}, raw=raw)


def lint_with(config: dict[str, Any], *files, dotenv: str | None = None, values=None) -> list:
    env = LintEnv(
        env_files={f.path: f for f in files},
        dotenv=(env_facts(dotenv, f"{ROOT}/.env", values),) if dotenv is not None else (),
        values=values or {},
    )
    return lint_config(config, MANIFEST, PLAN, "secrets", env)


def with_env_file(service: str, form: Any = None) -> dict[str, Any]:
    config = clean_config()
    config["services"][service]["env_file"] = (
        form if form is not None else [{"path": DB_ENV, "required": True}]
    )
    return config


def dumped(findings: list) -> str:
    return json.dumps([f.to_dict() for f in findings])


def assert_not_in(canary: bytes, text: str) -> None:
    for form in (
        canary,
        base64.b64encode(canary),
        base64.urlsafe_b64encode(canary),
        canary.hex().encode(),
        canary.hex().upper().encode(),
    ):
        assert form.decode() not in text


# --- L002 through env_file: and .env (class A) ---------------------------------------------------


@pytest.mark.parametrize(
    "form", [DB_ENV, [DB_ENV], [{"path": DB_ENV, "required": True, "format": "dotenv"}]]
)
@pytest.mark.parametrize(
    "text",
    [
        "POSTGRES_PASSWORD=hunter2-but-longer\n",
        "# a comment\nexport POSTGRES_PASSWORD=hunter2-but-longer\n",
        "POSTGRES_PASSWORD: 'yaml style'\n",
        'A="multi\nline POSTGRES_PASSWORD_NOT_A_NAME"\nPOSTGRES_PASSWORD="x y"\n',
    ],
)
def test_l002_x_set_by_an_env_file(form: Any, text: str) -> None:
    findings = lint_with(with_env_file("db", form), env_facts(text))
    assert [(f.code, f.severity, f.service) for f in findings] == [("L002", "error", "db")]
    assert findings[0].message == (
        "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (POSTGRES_PASSWORD by env_file "
        "db.env): the postgres image refuses to start"
    )
    assert findings[0].fix == "remove POSTGRES_PASSWORD from db.env"
    assert "hunter2" not in dumped(findings)


def test_l002_a_bare_name_in_an_env_file_counts_too() -> None:
    findings = lint_with(with_env_file("db"), env_facts("POSTGRES_PASSWORD\n"))
    assert [f.code for f in findings] == ["L002"]
    assert findings[0].message.endswith("refuses to start when POSTGRES_PASSWORD is non-empty")


def test_l002_x_file_from_an_env_file_and_x_in_environment() -> None:
    config = with_env_file("app")
    config["services"]["app"]["environment"].append("REDIS_PASSWORD=${REDIS_PASSWORD:-}")
    facts = env_facts("REDIS_PASSWORD_FILE=/run/secrets/db_password\n")
    findings = only(lint_with(config, facts), "L002")
    assert [(f.service, f.fix) for f in findings] == [
        ("app", "remove REDIS_PASSWORD from the service's environment")
    ]


def test_l002_interpolation_the_dotenv_fills() -> None:
    config = with_env("db", "POSTGRES_PASSWORD=${PG_PASS:-}")
    findings = only(lint_with(config, dotenv="PG_PASS=filled-by-dotenv\n"), "L002")
    assert [f.message for f in findings] == [
        "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set (POSTGRES_PASSWORD by "
        "environment: from .env): the postgres image refuses to start"
    ]


def test_l002_empty_env_file_names_are_still_names() -> None:
    findings = lint_with(with_env_file("app"), env_facts("API_KEY=\n"))
    assert [f.code for f in findings] == ["L002"]


def test_an_optional_missing_env_file_is_fine() -> None:
    config = with_env_file("db", [{"path": DB_ENV, "required": False}])
    missing = EnvFileFacts(DB_ENV, "db.env", readable=False, required=False)
    assert lint_with(config, missing) == []


def test_l013_a_required_env_file_that_cannot_be_read() -> None:
    missing = EnvFileFacts(DB_ENV, "db.env", readable=False)
    findings = lint_with(with_env_file("db"), missing)
    assert [(f.code, f.severity, f.service) for f in findings] == [("L013", "error", "db")]
    assert "db.env cannot be read" in findings[0].message


# --- D: L002 says what this service's image does --------------------------------------------------


@pytest.mark.parametrize(
    ("service", "entry", "effect"),
    [
        ("db", "POSTGRES_PASSWORD=x", "the postgres image refuses to start"),
        ("grafana", "GF_SECURITY_ADMIN_PASSWORD=x", "the grafana image refuses to start"),
        ("app", "DB_PASSWORD=x", "DB_PASSWORD wins and the file is ignored"),
    ],
)
def test_l002_message_is_true_for_the_service(service: str, entry: str, effect: str) -> None:
    findings = only(lint(with_env(service, entry)), "L002")
    assert len(findings) == 1
    assert findings[0].message.endswith(f": {effect}")
    assert "postgres" not in findings[0].message or service == "db"


@pytest.mark.parametrize("image", ["mysql:8.4", "mariadb:11", "docker.io/library/mariadb"])
def test_l002_mysql_family_refuses_too(image: str) -> None:
    config = clean_config()
    config["services"]["mydb"] = {
        "image": image,
        "environment": {"MYSQL_PASSWORD": "x", "MYSQL_PASSWORD_FILE": "/run/secrets/db_password"},
        "secrets": [{"source": "db_password", "target": "/run/secrets/db_password"}],
    }
    findings = only(lint(config), "L002")
    assert findings[0].message.endswith(
        f"the {image.split(':')[0].split('/')[-1]} image refuses to start"
    )


# --- L008: a file var pointing at /run/secrets/ where nothing is mounted --------------------------


def test_l008_file_var_points_at_an_unmounted_secret() -> None:
    findings = lint(with_env("app", "REDIS_PASSWORD_FILE=/run/secrets/redis_password"))
    assert [(f.code, f.severity, f.service) for f in findings] == [("L008", "error", "app")]
    assert findings[0].message == (
        "REDIS_PASSWORD_FILE points at /run/secrets/redis_password, but the service mounts "
        "nothing there"
    )


def test_l008_from_an_env_file_too() -> None:
    findings = lint_with(with_env_file("app"), env_facts("X_FILE=/run/secrets/nothing\n"))
    assert [(f.code, f.service) for f in findings] == [("L008", "app")]


@pytest.mark.parametrize(
    "mount",
    [
        {"secrets": ["redis_password"]},
        {"secrets": [{"source": "redis_password", "target": "/run/secrets/redis_password"}]},
        {"volumes": [{"type": "bind", "source": "/x", "target": "/run/secrets/redis_password"}]},
        {"volumes": [{"type": "bind", "source": "/x", "target": "/run/secrets"}]},
        {"volumes": ["/srv/x:/run/secrets/redis_password:ro"]},
    ],
)
def test_l008_mounted_by_a_secret_or_a_volume_is_fine(mount: dict) -> None:
    config = with_env("app", "REDIS_PASSWORD_FILE=/run/secrets/redis_password")
    app = config["services"]["app"]
    for key, items in mount.items():
        app[key] = app.get(key, []) + items
    assert only(lint(config), "L008") == []


# --- L009: a *_FILE name the image does not read --------------------------------------------------


def test_l009_grafana_single_underscore_file() -> None:
    config = clean_config()
    env = config["services"]["grafana"]["environment"]
    env.append("GF_DATABASE_PASSWORD_FILE=/run/secrets/admin_password")
    findings = lint(config)
    assert [(f.code, f.severity, f.service) for f in findings] == [("L009", "error", "grafana")]
    assert findings[0].message == (
        "the grafana image does not read GF_DATABASE_PASSWORD_FILE: the file is ignored and the "
        "image falls back to its default"
    )
    assert findings[0].fix == "rename it to GF_DATABASE_PASSWORD__FILE"


def test_l009_manifest_consumer_env_the_image_does_not_read() -> None:
    manifest = parse_manifest_text(
        "version: 1\nsecrets:\n  admin_password:\n    kind: password\n"
        "    consumers: {grafana: GF_SECURITY_ADMIN_PASSWORD_FILE}\n"
    )
    config = clean_config()
    config["services"] = {"grafana": config["services"]["grafana"]}
    config["services"]["grafana"]["environment"] = [
        "GF_SECURITY_ADMIN_PASSWORD_FILE=/run/secrets/admin_password"
    ]
    config["secrets"] = {"admin_password": config["secrets"]["admin_password"]}
    findings = lint_config(config, manifest, plan_overlay(manifest), "secrets")
    assert [(f.code, f.service) for f in findings] == [("L009", "grafana")]
    assert findings[0].fix == (
        "rename it to GF_SECURITY_ADMIN_PASSWORD__FILE in the manifest's consumers, then run "
        "`titan-deploy render`"
    )


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("POSTGRES_PASSWORD__FILE", "rename it to POSTGRES_PASSWORD_FILE"),
        ("POSTGRES_PASSWROD_FILE", "rename it to POSTGRES_PASSWORD_FILE"),
        ("PGPASSWORD_FILE", "rename it to POSTGRES_PASSWORD_FILE"),
        ("DB_SECRET_FILE", "use a *_FILE variable the postgres image reads (see its docs)"),
    ],
)
def test_l009_postgres_names(name: str, fix: str) -> None:
    findings = lint(with_env("db", f"{name}=/run/secrets/db_password"))
    assert [(f.code, f.fix) for f in findings] == [("L009", fix)]


@pytest.mark.parametrize(
    "image", ["redis:7", "bitnami/postgresql:16", "ghcr.io/acme/postgres:16", "${PG_IMAGE}"]
)
def test_l009_no_judgement_for_images_without_a_known_convention(image: str) -> None:
    config = with_env("db", "POSTGRES_PASSWORD__FILE=/run/secrets/db_password")
    config["services"]["db"]["image"] = image
    assert lint(config) == []


def test_l009_grafana_path_settings_are_not_file_vars() -> None:
    config = with_env("grafana", "GF_SERVER_CERT_FILE=/run/secrets/admin_password")
    assert lint(config) == []


# --- C: the tool's own values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "REDIS_PASSWORD=/run/secrets/db_password",
        "API_SECRET_PATH=/run/secrets/api_key",
        "EXCHANGE_API_KEY_LOCATION=/run/secrets/api_key",
    ],
)
def test_l001_never_flags_a_path_under_run_secrets(entry: str) -> None:
    assert lint(with_env("app", entry)) == []


# --- L010: a secret ${VAR} outside environment: (class B) ----------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("command", ["app", "--api-key", "${BINANCE_API_KEY}"], "command[2]"),
        ("command", "app --password=${DB_PASSWORD}", "command"),
        ("entrypoint", ["/bin/app", "--token=$GITHUB_TOKEN"], "entrypoint[1]"),
        ("healthcheck", {"test": ["CMD", "probe", "${API_SECRET}"]}, "healthcheck.test[2]"),
        ("labels", {"traefik.auth": "admin:${ADMIN_PASSWORD}"}, "labels.traefik.auth"),
        ("build", {"context": ".", "args": {"NPM_TOKEN": "${NPM_TOKEN}"}}, "build.args.NPM_TOKEN"),
    ],
)
def test_l010_secret_interpolated_outside_environment(field: str, value: Any, path: str) -> None:
    config = clean_config()
    config["services"]["app"][field] = value
    findings = lint(config)
    assert [(f.code, f.severity, f.service) for f in findings] == [("L010", "error", "app")]
    assert findings[0].message.startswith(f"{path} interpolates ${{")


def test_l010_in_a_top_level_field() -> None:
    config = clean_config()
    config["x-deploy"] = {"notify": "https://hooks.example/${SLACK_TOKEN}"}
    findings = lint(config)
    assert [(f.code, f.service) for f in findings] == [("L010", None)]
    assert findings[0].message.startswith("x-deploy.notify interpolates ${SLACK_TOKEN}")


def test_l010_ordinary_interpolation_and_runtime_variables_pass() -> None:
    config = clean_config()
    app = config["services"]["app"]
    app["command"] = ["sh", "-c", "exec app --port ${PORT:-3000} --key-file $$API_KEY_FILE"]
    app["labels"] = {"version": "${TITAN_TAG:-latest}"}
    assert lint(config) == []


# --- L011: a secret file read onto a command line -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("command", ["sh", "-c", 'exec redis-server --requirepass "$$(cat /run/secrets/api_key)"']),
        ("command", "sh -c 'exec redis-server --requirepass \"$$(cat /run/secrets/api_key)\"'"),
        ("command", ["redis-server", "--requirepass", "$(cat /run/secrets/api_key)"]),
        ("healthcheck", {"test": ["CMD-SHELL", 'redis-cli -a "$$(cat $$API_KEY_FILE)" ping']}),
        ("healthcheck", {"test": "mysqladmin ping -p$$MYSQL_ROOT_PASSWORD"}),
        ("entrypoint", ["sh", "-c", "exec app --key `cat /run/secrets/api_key`"]),
        ("command", ["sh", "-c", 'K=$$(cat /run/secrets/api_key); exec app --key "$$K"']),
    ],
)
def test_l011_secret_read_onto_a_command_line(field: str, value: Any) -> None:
    config = clean_config()
    config["services"]["app"][field] = value
    findings = lint(config)
    assert [(f.code, f.severity, f.service) for f in findings] == [("L011", "error", "app")]
    assert "on a command line" in findings[0].message


@pytest.mark.parametrize(
    "script",
    [
        "export API_KEY=$$(cat /run/secrets/api_key); exec app",
        "printf '%s' \"$$(cat /run/secrets/api_key)\" | app --key-stdin",
        "exec app --key-file /run/secrets/api_key",
        'test -s "$$API_KEY_FILE" && exec app',
    ],
)
def test_l011_reading_a_secret_without_a_command_line_passes(script: str) -> None:
    config = clean_config()
    config["services"]["app"]["command"] = ["sh", "-c", script]
    assert lint(config) == []


@pytest.mark.parametrize(
    "script",
    [
        'read -r T < /run/secrets/api_key; exec app --token "$$T"',
        'IFS= read -r T < "$$API_KEY_FILE" && exec app --token "$$T"',
        'read T <<< "$$(cat /run/secrets/api_key)"; exec app --token $$T',
        'while read -r T; do exec app --token "$$T"; done < /run/secrets/api_key',
        'mapfile -t K < /run/secrets/api_key; exec app --token "$${K[0]}"',
        "cat /run/secrets/api_key | xargs app --token",
        'tr -d "\\n" < /run/secrets/api_key | xargs -0 app --token',
        "xargs app --token < /run/secrets/api_key",
        "< /run/secrets/api_key xargs -I{} app --token {}",
        "xargs -a /run/secrets/api_key app --token",
        "export $$(cat /run/secrets/api_key | xargs); exec app",
        'exec app --token "$$(< /run/secrets/api_key)"',
        "env $$(cat /run/secrets/api_key) app",
        ". /run/secrets/api_key; exec app",
        'source "$$API_KEY_FILE" && exec app',
        "cat /run/secrets/api_key | sh",
    ],
)
def test_l011_every_shell_form_that_turns_a_secret_into_argv(script: str) -> None:
    """The class, not the example (issue 10): `read` into a variable, `xargs`, `$(<f)`,
    `source` and `| sh` put the content on a command line or run it as code."""
    config = clean_config()
    config["services"]["app"]["command"] = ["sh", "-c", script]
    findings = lint(config)
    assert [(f.code, f.service) for f in findings] == [("L011", "app")], script


@pytest.mark.parametrize(
    "script",
    [
        'read -r T < /run/secrets/api_key; printf "%s" "$$T" | app --key-stdin',
        "cat /run/secrets/api_key | app --key-stdin",
        "xargs -a /etc/hosts echo",
        "read -r X < /etc/app.conf; exec app --x $$X",
        ". /etc/profile; exec app",
        "ls /tmp | xargs rm",
        'cat /run/secrets/api_key | sh -c "exec app --key-stdin"',
        "redis-server 2>&1 | tee /tmp/log",
        'read v < /run/secrets/api_key; case "$$v" in ok-*) exit 0;; esac; exit 1',
        "read v < /run/secrets/api_key; for part in $$v; do :; done",
    ],
)
def test_l011_streams_that_keep_a_secret_off_argv_pass(script: str) -> None:
    config = clean_config()
    config["services"]["app"]["command"] = ["sh", "-c", script]
    assert lint(config) == []


# --- L012: a secret's value outside the secrets dir -----------------------------------------------


def test_l012_env_file_holds_a_secret_value() -> None:
    canary = secrets.token_urlsafe(32).encode()
    values = {"api_key": canary}
    facts = env_facts(f"NODE_ENV=production\nEXCHANGE_KEY={canary.decode()}\n", values=values)
    findings = lint_with(with_env_file("app"), facts, values=values)
    assert [(f.code, f.severity, f.service, f.secret) for f in findings] == [
        ("L012", "error", "app", "api_key")
    ]
    assert findings[0].message == (
        "env_file db.env sets EXCHANGE_KEY (line 2) to the value of secret api_key: it lands in "
        "the container's environment"
    )
    assert_not_in(canary, dumped(findings) + repr(facts))


def test_l012_env_file_holds_a_rotation_version_base64_encoded() -> None:
    canary = secrets.token_bytes(24).hex().encode()
    values = {"api_key.v3": canary}
    facts = env_facts(f"K={base64.b64encode(canary).decode()}\n", values=values)
    findings = lint_with(with_env_file("app"), facts, values=values)
    assert [(f.code, f.secret) for f in findings] == [("L012", "api_key")]


def test_l012_literal_secret_value_in_any_field() -> None:
    canary = secrets.token_urlsafe(32).encode()
    config = clean_config()
    app = config["services"]["app"]
    app["command"] = ["app", "--key", canary.decode()]
    app["environment"].append(f"NOTHING_SPECIAL={canary.decode()}")
    findings = lint_with(config, values={"api_key": canary})
    assert [(f.code, f.service, f.secret, f.message) for f in findings] == [
        ("L012", "app", "api_key", "environment.NOTHING_SPECIAL holds the value of secret api_key"),
        ("L012", "app", "api_key", "command[2] holds the value of secret api_key"),
    ]
    assert_not_in(canary, dumped(findings))


def test_l012_a_label_key_holding_a_secret_is_never_printed() -> None:
    canary = secrets.token_urlsafe(32).encode()
    config = clean_config()
    config["services"]["app"]["labels"] = {canary.decode(): "${API_SECRET}"}
    findings = lint_with(config, values={"api_key": canary})
    by_code = {f.code: f for f in findings}
    assert sorted(by_code) == ["L010", "L012"]  # the key itself holds a secret: L012 too
    assert by_code["L010"].message.startswith("labels.[REDACTED] interpolates")
    assert "labels.[REDACTED] (key)" in by_code["L012"].message
    assert_not_in(canary, dumped(findings))


def test_l012_dotenv_holding_a_secret_value() -> None:
    canary = secrets.token_urlsafe(32).encode()
    values = {"db_password": canary}
    dotenv = f"UNUSED={canary.decode()}\nFOO={canary.decode()}\n"
    config = with_env("app", "OPTIONS=${FOO}")  # an innocent name, filled with a secret by .env
    findings = lint_with(config, dotenv=dotenv, values=values)
    assert [(f.code, f.severity) for f in findings] == [
        ("L001", "error"),
        ("L012", "warning"),
        ("L012", "error"),
    ]
    assert findings[0].message == (
        "environment OPTIONS interpolates ${FOO}: a secret in plain environment"
    )
    assert findings[1].message == ".env sets UNUSED (line 1) to the value of secret db_password"
    assert findings[2].message == (
        ".env sets FOO (line 2) to the value of secret db_password: the compose config "
        "interpolates it"
    )
    assert_not_in(canary, dumped(findings))


def test_real_compose_env_file_x_fails_without_printing_values(titan_project: Path, cli) -> None:
    """The whole path: compose prints env_file: (interpolation off), lint reads the file's names,
    compares its values with the secrets dir in memory, exits 1 and prints no value."""
    canary = secrets.token_urlsafe(32).encode()  # the db password, also pasted into the env file
    other = secrets.token_hex(20).encode()  # an ordinary value that must not be echoed either
    store = titan_project / "secrets"
    store.mkdir(mode=0o700)
    (store / "titan_db_password").write_bytes(canary + b"\n")
    (titan_project / "pg.env").write_text(
        f"# postgres settings\nPGTZ={other.decode()}\nPOSTGRES_PASSWORD={canary.decode()}\n"
    )
    prod = titan_project / "docker-compose.prod.yml"
    image = "    image: postgres:16-bookworm\n"
    prod.write_text(prod.read_text().replace(image, image + "    env_file: [./pg.env]\n"))
    human = cli("-C", titan_project, "lint")
    as_json = cli("-C", titan_project, "--json", "lint")
    verbose = cli("-C", titan_project, "-v", "lint")
    assert human.exit_code == 1, human.output
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert [(f["code"], f["service"], f["secret"]) for f in doc["findings"]] == [
        ("L002", "postgres", None),
        ("L012", "postgres", "titan_db_password"),
    ]
    assert "env_file pg.env" in doc["findings"][0]["message"]
    for result in (human, as_json, verbose):
        for value in (canary, other):
            assert_not_in(value, result.stdout + result.stderr)


def test_l001_a_secret_name_interpolating_an_innocent_variable() -> None:
    findings = only(lint(with_env("app", "REDIS_PASSWORD=${PASS:-}")), "L001")
    assert [f.message for f in findings] == [
        "environment REDIS_PASSWORD interpolates ${PASS}: a secret in plain environment"
    ]


def test_interpolation_env_files_follow_compose(tmp_path: Path) -> None:
    assert interpolation_env_files(tmp_path, {}) == [tmp_path / ".env"]
    listed = interpolation_env_files(tmp_path, {"COMPOSE_ENV_FILES": "a.env, /etc/b.env"})
    assert listed == [Path("a.env").absolute(), Path("/etc/b.env")]


def test_real_compose_dotenv_filling_a_label_with_a_secret(titan_project: Path, cli) -> None:
    canary = secrets.token_hex(32).encode()  # the HMAC key, copied into .env under a dull name
    store = titan_project / "secrets"
    store.mkdir(mode=0o700)
    (store / "titan_hmac_secret").write_bytes(canary)
    (titan_project / ".env").write_text(f"TITAN_TAG=1.2.3\nBUILD_NOTE={canary.decode()}\n")
    prod = titan_project / "docker-compose.prod.yml"
    image = "    image: redis:7-bookworm\n"
    prod.write_text(
        prod.read_text().replace(image, image + '    labels: {note: "${BUILD_NOTE}"}\n')
    )
    result = cli("-C", titan_project, "--json", "lint")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["service"], f["secret"]) for f in findings] == [
        ("L010", "redis", None),
        ("L012", None, "titan_hmac_secret"),
    ]
    assert findings[0]["message"].startswith("labels.note interpolates ${BUILD_NOTE}")
    assert_not_in(canary, result.stdout + result.stderr)
