"""Manifest expressiveness on the real engine (issue 10 item 1): a consumer with `target:`, a
secret with `file:`, a capitalised service name and a GITEA-style env name deployed with `up` and
verified; a wrong file at the target fails verify. `rotate db` takes the role and database from
`sensitive: false` POSTGRES_USER_FILE / POSTGRES_DB_FILE; a psql failure shows psql's own error,
scrubbed of every secret value. No output ever holds a value (tests/canary.py)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.stackkit import LOOP, Stack, assert_no_canary

pytestmark = pytest.mark.docker

PG_IMAGE = "titan-demo/postgres:latest"
ENV_NAME = "GITEA__database__PASSWD__FILE"
TARGET = "/etc/app/server.cert"


def _project(tmp: Path, manifest: dict, compose: dict) -> Stack:
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    root = tmp / name
    root.mkdir()
    (root / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    return Stack(root=root, name=name, image="")


@pytest.fixture
def pg_image(request, docker_engine) -> str:
    """The demo postgres image: used as built (by the lead or an earlier test), built only when
    it is missing (the demo_images fixture)."""
    found = subprocess.run(["docker", "image", "inspect", PG_IMAGE], capture_output=True)
    if found.returncode != 0:
        request.getfixturevalue("demo_images")
    return PG_IMAGE


@pytest.fixture
def made():
    stacks: list[Stack] = []
    yield stacks
    for s in stacks:
        s.down()


def _write(stack: Stack, rel: str, value: bytes, key: str) -> None:
    path = stack.root / "secrets" / rel
    path.write_bytes(value)
    stack.values[key] = value


def test_target_file_and_compose_names_deploy_and_verify(tmp_path, busybox_image, made):
    manifest = {
        "version": 1,
        "compose_files": ["docker-compose.yml"],
        "secrets": {
            "App_DB_Password": {
                "kind": "password",
                "generate": True,
                "file": "db/password.txt",
                "consumers": {"Gitea": ENV_NAME},
            },
            "server_cert": {
                "kind": "token",
                "generate": True,
                # web reads it only at a target: no env var, no `environment:` in the overlay
                "consumers": {"Gitea": {"target": TARGET}, "web": {"target": TARGET}},
            },
        },
    }
    service = {
        "image": busybox_image,
        "command": ["sh", "-c", LOOP],
        "pull_policy": "never",
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
    }
    stack = _project(tmp_path, manifest, {"services": {"Gitea": service, "web": service}})
    made.append(stack)
    init = stack.td("init")
    assert init.returncode == 0, init.output
    assert (stack.root / "secrets/db/password.txt").is_file()
    _write(stack, "db/password.txt", secrets.token_urlsafe(32).encode(), "App_DB_Password")
    _write(stack, "server_cert", secrets.token_urlsafe(32).encode(), "server_cert")

    up = stack.td("--json", "up", "--timeout", "120")
    assert up.returncode == 0, up.output
    rows = json.loads(stack.td("--json", "verify").stdout)["rows"]
    assert {(r["service"], r["secret"]) for r in rows} == {
        ("Gitea", "App_DB_Password"),
        ("Gitea", "server_cert"),
        ("web", "server_cert"),
    }
    assert all(r["content"] and r["mounted"] and r["env"] for r in rows), rows
    web = stack.compose("exec", "-T", "web", "sh", "-c", f"test -f {TARGET} && echo ok")
    assert web.stdout.strip() == "ok", web.stderr
    # what the service reads: the env name points at the mount, the target holds the file
    env = stack.compose("exec", "-T", "Gitea", "sh", "-c", f"test -f ${ENV_NAME} && echo ok")
    assert env.stdout.strip() == "ok", env.stderr
    # a wrong file at the target: the host file replaced by a rename (the container keeps the
    # old inode), as rsync or an editor does
    cert = stack.root / "secrets" / "server_cert"
    fresh = cert.with_name(".server_cert.new")
    fresh.write_bytes(secrets.token_urlsafe(32).encode())
    os.chmod(fresh, 0o600)
    os.replace(fresh, cert)
    stack.values["server_cert.new"] = cert.read_bytes()
    failed = stack.td("--json", "verify")
    assert failed.returncode == 1, failed.output
    doc = json.loads(failed.stdout)
    bad = [f for f in doc["findings"] if f["code"] == "V002"]
    assert bad and all(f["secret"] == "server_cert" for f in bad), doc["findings"]
    assert any(TARGET in f["message"] for f in bad)
    row = next(r for r in doc["rows"] if r["secret"] == "server_cert")
    assert not row["content"]
    assert_no_canary(stack)


# --- rotate db with the role from a sensitive: false POSTGRES_USER_FILE -------------------------


def _pg_stack(tmp_path: Path, made: list) -> Stack:
    """postgres on the plain demo image, which reads POSTGRES_USER_FILE / POSTGRES_DB_FILE as
    the official image's file_env does (demo/images/postgres-entrypoint.py)."""
    manifest = {
        "version": 1,
        "compose_files": ["docker-compose.yml"],
        "secrets": {
            "pg_password": {
                "kind": "password",
                "generate": True,
                "rotation": "rolling",
                "provision": {"kind": "postgres", "service": "postgres"},
                "consumers": {"postgres": "POSTGRES_PASSWORD_FILE"},
            },
            "pg_user": {"sensitive": False, "consumers": {"postgres": "POSTGRES_USER_FILE"}},
            "pg_db": {"sensitive": False, "consumers": {"postgres": "POSTGRES_DB_FILE"}},
        },
    }
    compose = {
        "services": {
            "postgres": {
                "image": PG_IMAGE,
                "pull_policy": "never",
                "command": ["postgres"],
                "healthcheck": {
                    "test": ["CMD-SHELL", "pg_isready -h 127.0.0.1 -q"],
                    "interval": "1s",
                    "retries": 60,
                    "start_period": "60s",
                },
            }
        }
    }
    stack = _project(tmp_path, manifest, compose)
    made.append(stack)
    init = stack.td("init")
    assert init.returncode == 0, init.output
    _write(stack, "pg_password", secrets.token_urlsafe(32).encode(), "pg_password")
    # a role and a database name shorter than 8 characters: configuration, never searched for
    (stack.root / "secrets/pg_user").write_bytes(b"owner")
    (stack.root / "secrets/pg_db").write_bytes(b"appdb")
    up = stack.td("--json", "up", "--timeout", "180")
    assert up.returncode == 0, up.output
    return stack


def _login(stack: Stack, password: bytes) -> str:
    """A NEW TCP connection as owner/appdb with `password` (script on stdin, never argv/env)."""
    from titan_deploy.io.engine import connect

    engine = connect()
    (info,) = engine.containers(stack.name, "postgres")
    script = (
        "import psycopg2\n"
        f"pw = {password.decode()!r}\n"
        "try:\n"
        "    psycopg2.connect(host='127.0.0.1', user='owner', dbname='appdb', password=pw,\n"
        "                     connect_timeout=5).close()\n"
        "    print('OK')\n"
        "except psycopg2.OperationalError as exc:\n"
        "    print('REFUSED' if 'password authentication failed' in str(exc) else 'ERROR')\n"
    )
    result = engine.exec(info.id, ["python3", "-"], stdin=script.encode(), timeout=30)
    return result.stdout.decode().strip() or f"ERROR exit {result.exit_code}"


def test_rotate_db_reads_the_role_from_a_configuration_file(tmp_path, pg_image, made):
    stack = _pg_stack(tmp_path, made)
    old = stack.values["pg_password"]
    assert _login(stack, old) == "OK"
    result = stack.td(
        "--json", "rotate", "db", "--stop-timeout", "1", "--settle", "0", "--timeout", "180"
    )
    assert result.returncode == 0, result.output
    assert json.loads(result.stdout)["data"]["outcome"] == "completed"
    new = (stack.root / "secrets/pg_password").read_bytes().strip()
    stack.values["pg_password.new"] = new
    assert new != old
    assert _login(stack, new) == "OK"
    assert _login(stack, old) == "REFUSED"
    assert_no_canary(stack)


def test_a_psql_failure_shows_psqls_error_scrubbed(tmp_path, pg_image, made):
    """The database name the container reads is now a canary: psql's FATAL (which the tool used
    to hide) is shown, with the value scrubbed, and the rotation rolls back."""
    stack = _pg_stack(tmp_path, made)
    canary = b"nodb_" + secrets.token_hex(12).encode()
    stack.values["pg_db.canary"] = canary
    # an in-place write: the container's mount sees it, as an operator's edit would
    (stack.root / "secrets/pg_db").write_bytes(canary)
    result = stack.td("--json", "rotate", "db", "--stop-timeout", "1", "--settle", "0")
    assert result.returncode != 0, result.output
    assert "psql exit 2" in result.output and "FATAL" in result.output, result.output
    assert "does not exist" in result.output
    assert "[REDACTED]" in result.output
    assert_no_canary(stack)
