"""`adopt` end to end on the real engine (issue 10): a project laid out like real Titan (every
secret in `.env.prod`, read by `env_file:` on six services; one secret under two names; a DSN
with the password in it; a console already on a `*_FILE`) is adopted, then `titan-deploy up` on
local stand-in images ends verified — every consumer reads every adopted secret from its file,
under every name it used to read — and the upstream compose file is unchanged byte for byte.

Scoped to what `up` can verify: the fixture leaves out the parts adopt refuses (redis' password on
argv, nats' envsubst, an `environment:` interpolation), which lint rejects at `up` anyway; the
planner and the CLI tests cover those refusals.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.adoptkit import write_titan_like
from tests.cli.test_canary import Canaries

pytestmark = pytest.mark.docker
TD = [sys.executable, "-m", "titan_deploy"]


def td(root: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [*TD, "-C", str(root), "-p", name, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def test_adopt_then_up_ends_verified(tmp_path: Path, busybox_image: str) -> None:
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    titan = write_titan_like(tmp_path / name, deployable=True, image=busybox_image)
    root = titan.root
    canaries = Canaries({k: v for k, v in titan.values.items() if k != "DATABASE_URL"})
    compose = (root / "docker-compose.prod.yml").read_bytes()
    outputs = []
    try:
        adopted = td(
            root,
            name,
            "-f",
            "docker-compose.prod.yml",
            "--json",
            "adopt",
            "--secrets-gid",
            "10500",
            "--include",
            "WEBHOOK_SIGNING",
        )
        outputs.append(adopted.stdout + adopted.stderr)
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        plan = json.loads(adopted.stdout)["data"]
        assert not plan["refused"], plan["refused"]
        assert {s["name"] for s in plan["secrets"]} == {
            "titan_db_password",
            "titan_hmac_secret",
            "binance_api_key",
            "binance_api_secret",
            "gemini_api_key",
            "database_url",
            "webhook_signing",
        }
        up = td(root, name, "--json", "up", "--timeout", "180")
        outputs.append(up.stdout + up.stderr)
        assert up.returncode == 0, up.stdout + up.stderr
        doc = json.loads(up.stdout)
        assert doc["summary"].startswith("stack up and verified"), doc["summary"]
        rows = {(r["service"], r["secret"]) for r in doc["rows"]}
        assert ("titan-brain", "titan_db_password") in rows
        assert ("titan-scavenger", "titan_hmac_secret") in rows  # runs as uid 1000
        env = _env(name, "titan-brain")
        for var in ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"):
            assert env[var] == "/run/secrets/titan_db_password"
        for var in ("TITAN_DB_PASSWORD", "DB_PASSWORD", "HMAC_SECRET", "BINANCE_API_SECRET"):
            assert var not in env
        assert env["NODE_ENV"] == "production"  # the rest of .env.prod still arrives
        assert (root / "docker-compose.prod.yml").read_bytes() == compose
        for text in outputs:
            canaries.assert_clean(text, "adopt/up output")
    finally:
        files = ["-f", "docker-compose.prod.yml"]
        if (root / "docker-compose.secrets.yml").exists():
            files += ["-f", "docker-compose.secrets.yml"]
        subprocess.run(
            [
                "docker",
                "compose",
                "--project-directory",
                str(root),
                "-p",
                name,
                *files,
                "down",
                "--volumes",
                "--remove-orphans",
                "--timeout",
                "2",
            ],
            capture_output=True,
            check=False,
        )


def _env(project: str, service: str) -> dict[str, str]:
    ids = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ids, f"no container of {service}"
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Env}}", ids[0]],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(item.split("=", 1) for item in json.loads(inspect.stdout))
