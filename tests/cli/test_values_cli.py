"""Exit codes that issue 8 changed: names that hide, whitespace, PEM/multi-line, weak values."""

from __future__ import annotations

import json
import os
import secrets as pyrandom
from pathlib import Path

import pytest

from tests.pemkit import ed25519_pem

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
  settings:
    kind: text
    multiline: true
    consumers: {app: SETTINGS_FILE}
"""
COMPOSE = "name: tdcli\nservices:\n  app:\n    image: busybox\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    store = root / "secrets"
    store.mkdir(parents=True)
    os.chmod(store, 0o700)
    (root / "secrets.manifest.yml").write_text(MANIFEST)
    (root / "docker-compose.yml").write_text(COMPOSE)
    values = {
        "app.vault_token": pyrandom.token_urlsafe(32).encode(),
        "db_password": pyrandom.token_urlsafe(32).encode(),
        "exchange_key": ed25519_pem(),
        "settings": f"user = titan\npassword = {pyrandom.token_urlsafe(24)}\n".encode(),
    }
    for name, value in values.items():
        write(store / name, value)
    return root


def write(path: Path, value: bytes) -> None:
    path.write_bytes(value)
    os.chmod(path, 0o600)


def check(cli, root: Path, *args: str) -> tuple[int, dict]:
    result = cli("-C", root, "--json", "check-secrets", *args)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_pem_key_and_multiline_text_pass_check_secrets(cli, project: Path) -> None:
    code, doc = check(cli, project)
    assert (code, doc["findings"]) == (0, [])


def test_a_malformed_pem_fails_check_secrets(cli, project: Path) -> None:
    key = (project / "secrets" / "exchange_key").read_bytes()
    write(project / "secrets" / "exchange_key", key.replace(b"END PRIVATE", b"END PUBLIC"))
    code, doc = check(cli, project)
    assert code == 1
    assert [(f["code"], f["secret"]) for f in doc["findings"]] == [("S006", "exchange_key")]


@pytest.mark.parametrize("around", [(b" ", b""), (b"", b"\t"), (b"", b"\n")])
def test_whitespace_around_a_token_fails_then_fix_strips_it(
    cli, project: Path, around: tuple[bytes, bytes]
) -> None:
    path = project / "secrets" / "db_password"
    value = path.read_bytes()
    write(path, around[0] + value + around[1])
    code, doc = check(cli, project)
    assert code == 1
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [("S005", "error")]
    code, doc = check(cli, project, "--fix")
    assert code == 0, doc
    assert doc["data"]["fixed"] == [{"action": "strip-whitespace", "path": str(path)}]
    assert path.read_bytes() == value
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_weak_password_fails_check_secrets(cli, project: Path) -> None:
    write(project / "secrets" / "db_password", b"abcabcabcabcabcabc")  # 18 characters, 3 distinct
    result = cli("-C", project, "check-secrets")
    assert result.exit_code == 1
    assert "S023" in result.stdout and "abcabc" not in result.output
    _, doc = check(cli, project)
    [finding] = doc["findings"]
    assert (finding["code"], finding["severity"], finding["secret"]) == (
        "S023",
        "error",
        "db_password",
    )
    assert "fewer than 5 distinct characters" in finding["message"]


def test_a_value_equal_to_the_project_name_is_weak(cli, project: Path) -> None:
    write(project / "secrets" / "app.vault_token", b"tdcli-prod-2026x")
    (project / "docker-compose.yml").write_text(COMPOSE.replace("tdcli", "tdcli-prod-2026x"))
    code, doc = check(cli, project)
    assert code == 1
    assert [f["code"] for f in doc["findings"]] == ["S023"]


def test_a_name_that_collides_with_a_version_is_exit_2(cli, project: Path) -> None:
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(
        MANIFEST + "  db_password.v1:\n    kind: password\n    consumers: {app: X_FILE}\n"
    )
    result = cli("-C", project, "check-secrets")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(
        "error: secrets.manifest.yml:17: secrets.db_password.v1: collides with version 1 of "
        "secret db_password"
    )


def audit(cli, root: Path, log: Path) -> tuple[int, dict]:
    result = cli("-C", root, "--json", "audit-logs", "--file", log)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_audit_logs_finds_a_secret_whose_name_holds_dot_v(
    cli, project: Path, tmp_path: Path
) -> None:
    store = project / "secrets"
    old = store.joinpath("app.vault_token").read_bytes()
    write(store / "app.vault_token.v3", pyrandom.token_urlsafe(32).encode())
    log = tmp_path / "app.log"
    log.write_bytes(b"token " + old + b"\nnext " + (store / "app.vault_token.v3").read_bytes())
    code, doc = audit(cli, project, log)
    assert code == 1
    assert sorted((h["line"], h["secret"]) for h in doc["data"]["hits"]) == [
        (1, "app.vault_token"),
        (2, "app.vault_token"),
    ]


def test_audit_logs_matches_a_weak_value_only_as_a_word(cli, project: Path, tmp_path: Path) -> None:
    write(project / "secrets" / "db_password", b"nextcloud")
    quiet = tmp_path / "quiet.log"
    quiet.write_text(
        "pulling nextcloud-fpm:27\nvolume /var/www/nextcloudapps\n"
        "tdcli-app-1 mounted /run/secrets/db_password\n"
    )
    code, doc = audit(cli, project, quiet)
    assert (code, doc["data"]["hits"]) == (0, [])
    assert doc["data"]["secrets_weak"] == ["db_password"]
    assert [f["code"] for f in doc["findings"]] == ["A005"]
    loud = tmp_path / "loud.log"
    loud.write_text("connecting with password=nextcloud\n")
    code, doc = audit(cli, project, loud)
    assert code == 1
    assert [h["secret"] for h in doc["data"]["hits"]] == ["db_password"]
