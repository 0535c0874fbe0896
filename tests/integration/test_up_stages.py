"""`up` on a real engine (issue 8): every stage's findings reach its output (class 6), and edits
that will never apply are named with the command that applies them (class 8a, 8b)."""

from __future__ import annotations

import json
import os
import secrets as pyrandom
import uuid
from pathlib import Path

import pytest
import yaml

from tests.cli.test_up_cli import run_rotation
from tests.integration.stackkit import Stack, assert_no_canary
from titan_deploy.core.rotation import plan_exchange
from titan_deploy.project import Project

pytestmark = pytest.mark.docker
GID = 10500


def write(path: Path, value: bytes) -> None:
    tmp = path.with_name(f".{path.name}.edit")
    tmp.write_bytes(value)
    tmp.chmod(0o640)
    os.chown(tmp, -1, GID)
    os.replace(tmp, path)  # an editor's save


def json_doc(result) -> dict:
    return json.loads(result.stdout)


def fixes(doc: dict) -> str:
    return "\n".join(f["fix"] or "" for f in doc["findings"])


# --- class 6 -----------------------------------------------------------------------------------


def test_up_shows_warnings_of_check_secrets_and_lint(stack):
    s = stack()
    write(s.secret_path("leftover"), b"a file no manifest entry claims")  # S014: a warning

    def random_env(doc):  # L001 warning: a long random-looking value (not one of our secrets)
        doc["services"]["reader"]["environment"] = {"BUILD_ID": pyrandom.token_hex(20)}

    s.edit_compose(random_env)
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output  # warnings alone do not fail
    doc = json_doc(up)
    staged = {(f["stage"], f["code"], f["severity"]) for f in doc["findings"]}
    assert ("check-secrets", "S014", "warning") in staged
    assert ("lint", "L001", "warning") in staged
    assert doc["counts"]["warning"] == 2 and doc["counts"]["error"] == 0
    assert doc["summary"].startswith("stack up and verified")
    assert "2 warning(s) from check-secrets, lint" in doc["summary"]
    assert len(doc["rows"]) == 3  # verify's rows are still there
    assert {s["stage"] for s in doc["data"]["stages"]} == {
        "check-secrets",
        "render",
        "lint",
        "compose up",
        "verify",
    }

    table = s.td("up", "--timeout", "60")
    assert table.returncode == 0, table.output
    lines = table.stdout.splitlines()
    assert any("check-secrets" in x and "S014" in x for x in lines), table.stdout
    assert any("lint" in x and "L001" in x for x in lines), table.stdout
    assert_no_canary(s)


# --- class 8a ----------------------------------------------------------------------------------


def test_base_file_edited_after_rotation_is_named_by_verify_and_up(stack):
    s = stack()
    path = s.root / "secrets.manifest.yml"
    doc = yaml.safe_load(path.read_text())
    doc["secrets"]["api_token"].update(
        {"rotation": "restart", "group": "tok", "verify_log": "ready"}
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    project = Project(project_dir=s.root)
    run_rotation(project, plan_exchange(project.manifest, "tok", {}, {}))  # signer -> v1
    s.values["api_token.v1"] = s.secret_path("api_token.v1").read_bytes()
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    assert s.td("verify").returncode == 0

    canary = pyrandom.token_urlsafe(32).encode()
    s.values["edited"] = canary
    write(s.secret_path("api_token"), canary)
    verify = s.td("--json", "verify")
    assert verify.returncode == 1, verify.output
    doc = json_doc(verify)
    (finding,) = doc["findings"]
    assert (finding["code"], finding["secret"]) == ("D001", "api_token")
    assert "signer mount secrets/api_token.v1" in finding["message"]
    assert "`titan-deploy rotate exchange tok`" in finding["fix"]
    assert all(not row["problem"] for row in doc["rows"])  # the stack runs what it mounts
    assert "will never apply: api_token" in doc["summary"]

    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 1, up.output
    doc = json_doc(up)
    assert [(f["code"], f["stage"]) for f in doc["findings"]] == [("D001", "check-secrets")]
    assert "redeploy" not in fixes(doc)
    assert_no_canary(s)


# --- class 8b ----------------------------------------------------------------------------------

PG_HEALTH = ["CMD", "pg_isready", "-U", "app", "-d", "app", "-h", "127.0.0.1"]


@pytest.fixture
def pg_stack(tmp_path, demo_images):
    """postgres (titan-demo/postgres: reads POSTGRES_PASSWORD_FILE only to initialise an empty
    data dir, as the official image) with its password as a provisioned rolling secret."""
    name = f"tdtest-pg-{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    manifest = {
        "version": 1,
        "compose_files": ["docker-compose.yml"],
        "secrets_gid": GID,
        "secrets": {
            "db_password": {
                "kind": "password",
                "min_length": 24,
                "generate": True,
                "rotation": "rolling",
                "provision": {"kind": "postgres", "service": "postgres"},
                "consumers": {"postgres": "POSTGRES_PASSWORD_FILE"},
            }
        },
    }
    compose = {
        "services": {
            "postgres": {
                "image": "titan-demo/postgres:latest",
                "pull_policy": "never",
                "environment": {"POSTGRES_USER": "app", "POSTGRES_DB": "app"},
                "volumes": ["pgdata:/var/lib/postgresql/data"],
                "labels": {"org.titan-deploy.test": "1"},
                "healthcheck": {"test": PG_HEALTH, "interval": "1s", "retries": 30},
            }
        },
        "volumes": {"pgdata": {}},
    }
    (root / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    s = Stack(root=root, name=name, image="titan-demo/postgres:latest")
    assert s.td("init").returncode == 0
    s.values["db_password"] = s.secret_path("db_password").read_bytes().strip()
    yield s
    s.down()


def test_db_password_edited_after_postgres_initialised_says_rotate_db(pg_stack):
    s = pg_stack
    record = s.root / ".titan-deploy" / "deployed.json"
    up = s.td("up", "--timeout", "120")
    assert up.returncode == 0, up.output
    assert json.loads(record.read_text())["secrets"]["db_password"]["file"] == "db_password"
    assert oct(record.stat().st_mode & 0o777) == "0o600"

    def edit() -> None:
        value = pyrandom.token_urlsafe(32).encode()
        s.values[f"edit-{len(s.values)}"] = value
        write(s.secret_path("db_password"), value)

    edit()
    check = s.td("--json", "check-secrets")
    assert check.returncode == 1
    (finding,) = json_doc(check)["findings"]
    assert (finding["code"], finding["secret"], finding["service"]) == (
        "D002",
        "db_password",
        "postgres",
    )
    assert finding["fix"].startswith("run `titan-deploy rotate db`")
    before = s.compose("ps", "-q").stdout
    up = s.td("--json", "up", "--timeout", "120")
    assert up.returncode == 1, up.output
    doc = json_doc(up)
    assert [(f["code"], f["stage"]) for f in doc["findings"]] == [("D002", "check-secrets")]
    assert s.compose("ps", "-q").stdout == before  # nothing was redeployed
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    codes = {f["code"] for f in json_doc(verify)["findings"]}
    assert "D002" in codes
    for f in json_doc(verify)["findings"]:  # V002 too (changed after start): same advice
        assert "rotate db" in f["fix"] and "redeploy" not in f["fix"]

    rotate = s.td("rotate", "db", "--stop-timeout", "2", "--timeout", "120")
    assert rotate.returncode == 0, rotate.output
    assert s.td("check-secrets").returncode == 0
    up = s.td("--json", "up", "--timeout", "120")
    assert up.returncode == 0, up.output
    assert json.loads(record.read_text())["secrets"]["db_password"]["file"] == "db_password.v1"
    s.values["db_password.v1"] = s.secret_path("db_password.v1").read_bytes().strip()

    # the database volume deleted: the next init reads the file as it is, nothing to refuse
    assert s.td("down", "--volumes").returncode == 0
    assert not record.exists()
    assert s.td("check-secrets").returncode == 0
    assert s.td("up", "--timeout", "120").returncode == 0
    assert record.exists()
    assert_no_canary(s, record.read_text())
