"""Issue 10 item 2 on the REAL Compose v2: base file + rendered overlay, merged by `docker
compose config`, has no plain `X` where the consumer gets `X_FILE`, keeps every other variable,
and reads each managed secret from the manifest's file, not a git-tracked one in the base."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.docker

BASE = """\
services:
  db:
    image: busybox
    environment:
      POSTGRES_USER: titan
      POSTGRES_PASSWORD: {plain}
      KEEP_DB: "1"
    secrets:
      - db_password
  app:
    image: busybox
    environment: !override
      - NODE_ENV=production
      - DB_PASSWORD={plain}
      - TITAN_DB_PASSWORD={plain}
      - PASSTHROUGH
    ports: !reset []
    secrets:
      - source: db_password
        target: /run/secrets/db_password
secrets:
  db_password:
    file: ./db/password.txt
"""

MANIFEST = {
    "version": 1,
    "compose_files": ["compose.yml"],
    "secrets": {
        "db_password": {
            "kind": "password",
            "consumers": {
                "db": "POSTGRES_PASSWORD_FILE",
                "app": {"env": ["TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"]},
            },
        }
    },
}


def test_the_merged_config_has_the_file_vars_and_not_the_plain_ones(
    docker_engine, tmp_path: Path, cli
) -> None:
    plain = "plain" + secrets.token_hex(12)  # a canary: never in the overlay
    (tmp_path / "compose.yml").write_text(BASE.format(plain=plain))
    (tmp_path / "secrets.manifest.yml").write_text(yaml.safe_dump(MANIFEST))
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password.txt").write_text("old-tracked-file\n")
    for command in (("render",), ("check-secrets",), ("lint",)):
        result = cli("-C", tmp_path, *command)
        assert result.exit_code in (0, 1), (command, result.output)  # never 2 for !reset
        assert plain not in result.output
    overlay = (tmp_path / "docker-compose.secrets.yml").read_text()
    assert plain not in overlay
    files = ["-f", "compose.yml", "-f", "docker-compose.secrets.yml"]
    done = subprocess.run(
        ["docker", "compose", "-p", "tdtest-overlay-reset", *files, "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config = json.loads(done.stdout)
    db, app = config["services"]["db"], config["services"]["app"]
    assert db["environment"] == {
        "POSTGRES_USER": "titan",
        "KEEP_DB": "1",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
    }
    assert app["environment"] == {
        "NODE_ENV": "production",
        "PASSTHROUGH": None,
        "TITAN_DB_PASSWORD_FILE": "/run/secrets/db_password",
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
    }
    assert config["secrets"]["db_password"]["file"] == str(tmp_path / "secrets" / "db_password")
    # the base's mount of the same secret is gone from app: one mount, the overlay's
    assert app["secrets"] == [{"source": "db_password", "target": "db_password"}]
    result = cli("-C", tmp_path, "--json", "lint")
    assert "L014" not in result.output and plain not in result.output
