"""Which values verify's leak check and audit-logs search for (issue 8, classes 5, 9, 11).

Names that hide (`app.vault_token` is not version "ault_token" of `app`), multi-line values line
by line, weak values as whole tokens only and never inside the tool's own strings.
"""

from __future__ import annotations

import os
import secrets as pyrandom
from pathlib import Path

import pytest

from tests.pemkit import ed25519_pem
from titan_deploy.core.containers import ContainerInfo
from titan_deploy.core.leaks import hits_in_line
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import plan_overlay
from titan_deploy.core.verify import Facts, verify
from titan_deploy.ops.audit import patterns_for
from titan_deploy.ops.stack import secret_values
from titan_deploy.project import Project

MANIFEST = """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  app.vault_token:
    kind: token
    consumers: {app: VAULT_TOKEN_FILE}
  db_password:
    kind: password
    consumers: {app: DB_PASSWORD_FILE}
  exchange_key:
    kind: pem
    consumers: {app: EXCHANGE_KEY_FILE}
"""
COMPOSE = "name: tdunit\nservices:\n  app:\n    image: busybox\n"


def make_project(root: Path, values: dict[str, bytes]) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "secrets.manifest.yml").write_text(MANIFEST)
    (root / "docker-compose.yml").write_text(COMPOSE)
    store = root / "secrets"
    store.mkdir(mode=0o700, exist_ok=True)
    for name, value in values.items():
        (store / name).write_bytes(value)
        os.chmod(store / name, 0o600)
    return Project(project_dir=root)


@pytest.fixture
def values() -> dict[str, bytes]:
    return {
        "app.vault_token": pyrandom.token_urlsafe(32).encode(),
        "app.vault_token.v2": pyrandom.token_urlsafe(32).encode(),
        "db_password": pyrandom.token_urlsafe(32).encode() + b"\n",
        "exchange_key": ed25519_pem(),
    }


def test_a_name_with_dot_v_is_read_with_its_versions(tmp_path: Path, values) -> None:
    project = make_project(tmp_path / "p", values)
    (project.secrets_dir / "app.vault_token.v02").write_bytes(b"not a version: a stray")
    (project.secrets_dir / "app").write_bytes(b"not a secret of the manifest")
    found = secret_values(project)
    assert set(found) == {"app.vault_token", "app.vault_token.v2", "db_password", "exchange_key"}
    assert found["db_password"] == values["db_password"].strip()
    assert found["exchange_key"] == values["exchange_key"].strip()  # interior newlines kept


def test_audit_searches_every_version_of_a_name_with_dot_v(tmp_path: Path, values) -> None:
    project = make_project(tmp_path / "p", values)
    patterns = patterns_for(project)
    assert "app.vault_token" in patterns.secrets
    for key in ("app.vault_token", "app.vault_token.v2"):
        assert hits_in_line(b"token=" + values[key], patterns) == [("app.vault_token", "raw")]
    key_line = values["exchange_key"].split(b"\n")[1]
    assert hits_in_line(b"loaded key " + key_line, patterns) == [("exchange_key", "raw")]


def test_audit_matches_a_weak_value_only_as_a_word_and_never_in_own_paths(
    tmp_path: Path, values
) -> None:
    project = make_project(tmp_path / "p", dict(values, db_password=b"tdunit"))
    patterns = patterns_for(project)
    # `tdunit` is also the compose project name: labels and container names are not leaks
    assert hits_in_line(b"com.docker.compose.project=tdunit", patterns) == []
    assert hits_in_line(b"tdunit-app-1 started", patterns) == []
    assert patterns.skipped == ("db_password",)  # 6 characters: not searched at all
    project = make_project(tmp_path / "q", dict(values, db_password=b"nextcloud"))
    patterns = patterns_for(project)
    assert patterns.weak == ("db_password",)
    assert hits_in_line(b"image nextcloud-fpm:27", patterns) == []
    assert hits_in_line(b"password=nextcloud", patterns) == [("db_password", "raw")]
    assert hits_in_line(str(project.secrets_dir).encode(), patterns) == []


# --- verify's leak check ------------------------------------------------------------------------


def container(env: dict[str, str], labels: dict[str, str] | None = None) -> ContainerInfo:
    return ContainerInfo(
        id="c1",
        name="tdunit-app-1",
        service="app",
        number=1,
        status="running",
        restarting=False,
        restart_count=0,
        exit_code=0,
        health=None,
        started_at="",
        user="",
        group_add=(),
        env=env,
        labels=labels or {},
    )


def leaks(values: dict[str, bytes], env: dict[str, str], labels=None) -> list[tuple[str, str]]:
    manifest = parse_manifest_text(MANIFEST)
    facts = Facts(
        plan=plan_overlay(manifest),
        containers={"app": [container(env, labels)]},
        files={},
        host={},
        identities={},
        values=values,
        project=(labels or {}).get("com.docker.compose.project", ""),
    )
    _, findings = verify(facts)
    return sorted((f.secret or "", f.message) for f in findings if f.code == "V006")


FILE_ENV = {
    "VAULT_TOKEN_FILE": "/run/secrets/app.vault_token",
    "DB_PASSWORD_FILE": "/run/secrets/db_password",
    "EXCHANGE_KEY_FILE": "/run/secrets/exchange_key",
}


def test_verify_finds_a_leaked_version_of_a_name_with_dot_v(values) -> None:
    on_disk = {k: v.strip() for k, v in values.items()}
    env = dict(FILE_ENV, TOKEN=values["app.vault_token.v2"].decode())
    assert leaks(on_disk, env) == [
        ("app.vault_token", "tdunit-app-1: the value of app.vault_token appears in its env TOKEN")
    ]


def test_verify_finds_a_line_of_a_pem_key_in_the_env(values) -> None:
    on_disk = {k: v.strip() for k, v in values.items()}
    line = values["exchange_key"].split(b"\n")[1].decode()
    env = dict(FILE_ENV, EXCHANGE_KEY=line)
    assert [s for s, _ in leaks(on_disk, env)] == ["exchange_key"]


def test_verify_matches_a_weak_value_only_as_a_word(values) -> None:
    on_disk = {k: v.strip() for k, v in values.items()}
    on_disk["db_password"] = b"nextcloud"
    labels = {"com.docker.compose.project": "tdunit", "org.opencontainers.image.title": "x"}
    quiet = dict(FILE_ENV, IMAGE="nextcloud-fpm:27", DATA="/var/www/nextcloudapps")
    assert leaks(on_disk, quiet, labels) == []
    loud = dict(FILE_ENV, DB_PASSWORD="nextcloud")
    assert [s for s, _ in leaks(on_disk, loud, labels)] == ["db_password"]


def test_verify_never_matches_the_mount_path_of_a_value_equal_to_its_name(values) -> None:
    on_disk = {k: v.strip() for k, v in values.items()}
    on_disk["db_password"] = b"db_password"
    labels = {"com.docker.compose.project": "tdunit"}
    assert leaks(on_disk, dict(FILE_ENV), labels) == []
