"""The agent path for AWS Secrets Manager (README "Secrets managers"), on the real engine
against moto_server on 127.0.0.1 with the real boto3, in one chain: `push` writes the HMAC key
as a Secrets Manager version; with no secrets dir on this host `up` deploys brain (signer) and
execution (listener), the demo's stand-ins, through titan-deploy's renderer sidecar
(scripts/aws-agent/render.py; network_mode host, credentials from a mounted shared credentials
file) and verifies each file against the VersionId it is pinned to; `rotate hmac` writes the
new key as a new version, the listener gets primary + secondary before the signer moves, and
brain's traffic sees no rejected message and no auth failure; `rotate hmac --finish` retires
the previous key; `verify` and `status` pass; no value in any output, file left in the project
or container log (the sidecar's included)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets as pyrandom
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.backendkit import (
    aws_manifest,
    ensure_aws_agent_image,
    moto_server,
    project_logs,
    td,
    torn_down,
)
from tests.canary import Canaries
from tests.conftest import require
from tests.integration.rotation_kit import Traffic
from tests.stackkit_backend import project_with_values

pytestmark = pytest.mark.docker

H = "titan_hmac_secret"
MANIFEST = {
    "version": 1,
    "compose_files": ["docker-compose.yml"],
    "secrets": {
        H: {
            "kind": "hex",
            "bytes": 32,
            "rotation": "hmac",
            "secondary_env": "TITAN_HMAC_SECRET_SECONDARY_FILE",
            "key_id_env": "TITAN_HMAC_KEY_ID",
            "consumers": {
                "titan-brain": {"env": "TITAN_HMAC_SECRET_PRIMARY_FILE", "role": "signer"},
                "titan-execution": {"env": "TITAN_HMAC_SECRET_PRIMARY_FILE", "role": "listener"},
            },
        }
    },
}
FAST = ["--stop-timeout", "1", "--settle", "1"]


def standin(role: str, **env: str) -> dict:
    return {
        "image": "titan-demo/standin:latest",
        "pull_policy": "never",
        "environment": {"TITAN_DEMO_ROLE": role, **env},
    }


def aws_project(tmp_path: Path, server, image: str, value: str) -> tuple[Path, dict[str, str]]:
    """The project (brain signs for execution; no database: brain's DB check just fails) and
    the environment titan-deploy runs with: the same shared credentials file the sidecar
    mounts (moto takes any key)."""
    project = project_with_values(tmp_path, MANIFEST, {H: value})
    compose = {
        "services": {
            "titan-brain": standin(
                "titan-brain",
                TITAN_DB_PASSWORD="no-database-in-this-test",
                TITAN_LISTENER_URLS="http://titan-execution:3002",
            ),
            "titan-execution": standin("titan-execution"),
        }
    }
    (project / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    (project / "aws").mkdir(mode=0o700)
    credentials = project / "aws" / "credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = x\n")
    credentials.chmod(0o600)
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text()
        + aws_manifest(server, "titan")
        + f"  agent: {{image: '{image}', network_mode: host, render_interval: 1, "
        "credentials_file: aws/credentials}\n"
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": os.devnull}
    return project, env


def test_up_rotate_hmac_verify_through_aws_secrets_manager(tmp_path: Path) -> None:
    standin_image = subprocess.run(
        ["docker", "image", "inspect", "titan-demo/standin:latest"], capture_output=True
    )
    require(standin_image.returncode == 0, "image titan-demo/standin:latest (make demo-images)")
    image = ensure_aws_agent_image()
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    old = pyrandom.token_hex(32)
    canaries = Canaries({"old": old.encode()})
    with moto_server(tmp_path) as server:
        project, env = aws_project(tmp_path, server, image, old)
        import boto3

        sm = boto3.client(
            "secretsmanager",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="testing",
            aws_secret_access_key="x",
        )

        def version(version_id: str = "") -> tuple[str, str]:
            extra = {"VersionId": version_id} if version_id else {}
            got = sm.get_secret_value(SecretId=f"titan/{H}", **extra)
            canaries.add(got["VersionId"], got["SecretString"].encode())
            return got["VersionId"], hashlib.sha256(got["SecretString"].encode()).hexdigest()

        def digest(service: str, path: str) -> str | None:
            cmd = ["docker", "compose", "-p", name, "exec", "-T", service, "sha256sum", path]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=project)
            return done.stdout.split()[0] if done.returncode == 0 else None

        outputs: list[subprocess.CompletedProcess[str]] = []

        def ok(*args: str) -> dict:
            done = td(project, name, *args, env=env)
            outputs.append(done)
            assert done.returncode == 0, f"{args}: {done.stdout[-3000:]} {done.stderr[-3000:]}"
            return json.loads(done.stdout)

        with torn_down(project, name, canaries, outputs, env=env):
            ok("push")
            shutil.rmtree(project / "secrets")  # from here on the value lives in the backend
            up = ok("up", "--timeout", "120")
            assert {(r["service"], r["secret"]) for r in up["rows"] if not r["problem"]} == {
                ("titan-brain", H),
                ("titan-execution", H),
            }
            first, old_digest = version()
            pins = json.loads((project / ".titan-deploy" / "backend-pins.json").read_text())
            assert pins[H]["base"] == first  # a Secrets Manager VersionId
            assert digest("titan-brain", "/run/secrets/" + H) == old_digest

            with Traffic(name) as traffic:
                traffic.flows()
                rotated = ok("rotate", "hmac", *FAST)
                traffic.flows()
            assert rotated["data"]["outcome"] == "completed", rotated["summary"]
            repoints = [r for r in rotated["rows"] if r["action"] == "repoint"]
            # the procedure's order: the listener holds primary + secondary before brain moves
            assert "titan-execution" in repoints[0]["step"]
            assert "titan-brain" not in repoints[0]["step"]
            assert "titan-brain" in repoints[1]["step"]
            second, new_digest = version()
            assert second != first and new_digest != old_digest
            assert digest("titan-execution", f"/run/secrets/{H}") == new_digest
            assert digest("titan-execution", f"/run/secrets/{H}.previous") == old_digest
            assert digest("titan-brain", f"/run/secrets/{H}") == new_digest
            assert traffic.signed > 0
            assert traffic.rejected == 0 and traffic.auth_failures == 0

            with Traffic(name) as traffic:
                ok("rotate", "hmac", "--finish", "--force", *FAST)
                traffic.flows()
            assert traffic.rejected == 0 and traffic.auth_failures == 0
            assert digest("titan-execution", f"/run/secrets/{H}.previous") is None
            verified = ok("verify")
            assert verified["data"]["backend"] == "aws-secretsmanager"
            status = ok("status")
            assert status["data"]["pins"][H]["base"] == second
            # the sidecar's log is among the logs torn_down checks: it names files and versions
            assert f"titan-aws-agent: /out/titan-brain/{H}: rendered" in project_logs(name)
            for path in project.rglob("*"):
                if path.is_file():
                    canaries.assert_clean(path.read_text(errors="replace"), str(path))
