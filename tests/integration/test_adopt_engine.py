"""`adopt` end to end on the real engine (issue 10): a project laid out like real Titan (every
secret in `.env.prod`, read by `env_file:` on six services; one secret under two names; a DSN
with the password in it; a console already on a `*_FILE`; redis' password and sentinel's HMAC
key set in `environment:` from `.env`; a `format: raw` env file; a second compose file that
`!override`s one service's env_file list; a weak password check-secrets would reject) is
adopted, then `titan-deploy up` on local stand-in images ends verified — every consumer reads
every adopted secret from its file, under every name it used to read, each file holds exactly
what Compose gave the container before — and `git diff` of the upstream compose files is empty.

Scoped to what `up` can verify: the fixture leaves out the parts adopt refuses (redis' password on
argv, nats' envsubst); the planner and the CLI tests cover those refusals.
"""

from __future__ import annotations

import json
import stat
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


ADOPTED = {
    "titan_db_password",
    "titan_hmac_secret",
    "binance_api_key",
    "binance_api_secret",
    "gemini_api_key",
    "database_url",
    "webhook_signing",
    "redis_password",  # redis' `REDIS_PASSWORD: ${REDIS_PASSWORD}`: the overlay resets it
    "ai_provider_token",  # from a `format: raw` env file, byte for byte
}


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ident = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "commit.gpgsign=false",
    ]
    return subprocess.run(
        ["git", *ident, "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def compose_environment(root: Path, name: str, files: tuple[str, ...]) -> dict:
    """service -> env as Compose gives it to the container (values in memory only)."""
    argv = ["docker", "compose", "--project-directory", str(root), "-p", name]
    for file in files:
        argv += ["-f", str(root / file)]  # -f is relative to the working dir, not the project
    done = subprocess.run(
        [*argv, "config", "--format", "json"], capture_output=True, text=True, check=True
    )
    services = json.loads(done.stdout)["services"]
    return {
        s: {k: v.replace("$$", "$") for k, v in (body.get("environment") or {}).items() if v}
        for s, body in services.items()
    }


def test_adopt_then_up_ends_verified(tmp_path: Path, busybox_image: str) -> None:
    """The issue's acceptance scenario: dry run (plan, no value, nothing written), adopt, up on
    stand-ins ends verified, the upstream compose files unchanged (`git diff` empty)."""
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    titan = write_titan_like(tmp_path / name, deployable=True, image=busybox_image)
    root = titan.root
    canaries = Canaries({k: v for k, v in titan.values.items() if k != "DATABASE_URL"})
    assert git(root, "init", "-q").returncode == 0
    assert git(root, "add", *titan.compose).returncode == 0
    assert git(root, "commit", "-q", "-m", "upstream").returncode == 0, "git commit"
    before = compose_environment(root, name, titan.compose)
    files = [arg for f in titan.compose for arg in ("-f", f)]
    outputs = []
    try:
        dry = td(root, name, *files, "--json", "adopt", "--dry-run", "--include", "WEBHOOK_SIGNING")
        outputs.append(dry.stdout + dry.stderr)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert not (root / "secrets").exists() and not (root / "secrets.manifest.yml").exists()
        text = td(root, name, *files, "adopt", "--dry-run", "--include", "WEBHOOK_SIGNING")
        outputs.append(text.stdout + text.stderr)
        assert "would adopt 9 secret(s)" in text.stdout, text.stdout
        adopted = td(
            root,
            name,
            *files,
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
        assert json.loads(dry.stdout)["data"]["secrets"] == plan["secrets"]
        assert {s["name"] for s in plan["secrets"]} == ADOPTED
        assert [(r["names"], r["reason"][:12]) for r in plan["refused"]] == [
            (["ADMIN_PASSWORD"], "check-secret")  # weak: A006, it stays in .env.prod
        ]
        # every value is what Compose gave the container, byte for byte (raw format included)
        for secret in plan["secrets"]:
            consumer = secret["consumers"][0]
            want = before[consumer["service"]][consumer["reads"][0]].encode()
            assert (root / secret["file"]).read_bytes() == want, secret["name"]
        for file, content in titan.untouched.items():  # env_file `!override`n away: not read
            assert (root / file).read_bytes() == content
        assert "ADMIN_PASSWORD=" in (root / ".env.prod").read_text()
        assert "HMAC_SECRET=adopted-by-titan-deploy" in (root / ".env").read_text()
        for backup in (root / ".titan-deploy" / "adopt").iterdir():
            assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        up = td(root, name, "--json", "up", "--timeout", "180")
        outputs.append(up.stdout + up.stderr)
        assert up.returncode == 0, up.stdout + up.stderr
        doc = json.loads(up.stdout)
        assert doc["summary"].startswith("stack up and verified"), doc["summary"]
        rows = {(r["service"], r["secret"]) for r in doc["rows"]}
        assert ("titan-brain", "titan_db_password") in rows
        assert ("titan-scavenger", "titan_hmac_secret") in rows  # runs as uid 1000
        assert ("redis", "redis_password") in rows
        assert ("titan-ai-quant", "ai_provider_token") in rows
        env = _env(name, "titan-brain")
        for var in ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"):
            assert env[var] == "/run/secrets/titan_db_password"
        for var in ("TITAN_DB_PASSWORD", "DB_PASSWORD", "HMAC_SECRET", "BINANCE_API_SECRET"):
            assert var not in env
        assert env["NODE_ENV"] == "production"  # the rest of .env.prod still arrives
        redis = _env(name, "redis")
        assert "REDIS_PASSWORD" not in redis
        assert redis["REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
        sentinel = _env(name, "titan-sentinel")
        assert "TITAN_HMAC_SECRET" not in sentinel and sentinel["HEADLESS"] == "true"
        assert "LEGACY_API_TOKEN" not in _env(name, "titan-hunter")
        diff = git(root, "diff", "--exit-code", "--", *titan.compose)
        assert diff.returncode == 0 and diff.stdout == "", diff.stdout
        for text in outputs:
            canaries.assert_clean(text, "adopt/up output")
    finally:
        overlay = (
            ["docker-compose.secrets.yml"] if (root / "docker-compose.secrets.yml").exists() else []
        )
        argv = ["docker", "compose", "--project-directory", str(root), "-p", name]
        for file in (*titan.compose, *overlay):
            argv += ["-f", str(root / file)]
        subprocess.run(
            [*argv, "down", "--volumes", "--remove-orphans", "--timeout", "2"],
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
