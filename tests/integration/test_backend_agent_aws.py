"""The agent path for AWS Secrets Manager (README "Secrets managers"), on the real engine
against moto_server on 127.0.0.1 with the real boto3, in one chain: `push` writes the HMAC key
and an API token as Secrets Manager versions; with no secrets dir on this host `up` deploys
brain (signer) and execution (listener), the demo's stand-ins, through titan-deploy's renderer
sidecar (scripts/aws-agent/render.py; network_mode host, credentials from a mounted shared
credentials file) and verifies each file against the VersionId it is pinned to; `rotate hmac`
writes the new key as a new version, the listener gets primary + secondary before the signer
moves, and brain's traffic sees no rejected message and no auth failure; `rotate hmac
--finish` retires the previous key; `verify` and `status` pass. Then the journal with
VersionId pins: `rotate secret --generate` of the token SIGKILLed with one consumer moved,
`rotate resume` completes it on the one version written (the pin is AWSCURRENT's VersionId);
`rotate hmac` SIGKILLed after the listener moved, `rotate abort` puts every pin and file back on
the previous VersionIds with no rejected message. No value in any output, file left in the
project or container log (the sidecar's included)."""

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
T = "titan_api_token"  # a restart secret both stand-ins mount (they ignore its value)
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
        },
        T: {
            "kind": "token",
            "generate": True,
            "rotation": "restart",
            "consumers": {
                "titan-brain": "TITAN_API_TOKEN_FILE",
                "titan-execution": "TITAN_API_TOKEN_FILE",
            },
        },
    },
}
FAST = ["--stop-timeout", "1", "--settle", "1"]
CRASH = "TITAN_DEPLOY_CRASH_AFTER_STEP"  # ops/rotate/runner.py: SIGKILL after step N is journaled


def standin(role: str, **env: str) -> dict:
    return {
        "image": "titan-demo/standin:latest",
        "pull_policy": "never",
        "environment": {"TITAN_DEMO_ROLE": role, **env},
    }


def aws_project(tmp_path: Path, server, image: str, values: dict[str, str]) -> tuple[Path, dict]:
    """The project (brain signs for execution; no database: brain's DB check just fails) and
    the environment titan-deploy runs with: the same shared credentials file the sidecar
    mounts (moto takes any key)."""
    project = project_with_values(tmp_path, MANIFEST, values)
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


class Chain:
    """The chain's project and the commands' outputs; what moto holds (every value read becomes
    a canary) and what each consumer's file holds, by hash."""

    def __init__(self, project: Path, name: str, env: dict, server, canaries: Canaries) -> None:
        import boto3

        self.project, self.name, self.env, self.canaries = project, name, env, canaries
        self.outputs: list[subprocess.CompletedProcess[str]] = []
        self.sm = boto3.client(
            "secretsmanager",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="testing",
            aws_secret_access_key="x",
        )

    def version(self, secret: str, version_id: str = "") -> tuple[str, str]:
        """(VersionId, sha256 of the value) of `version_id`, AWSCURRENT when ""."""
        extra = {"VersionId": version_id} if version_id else {"VersionStage": "AWSCURRENT"}
        got = self.sm.get_secret_value(SecretId=f"titan/{secret}", **extra)
        self.canaries.add(f"{secret} {got['VersionId']}", got["SecretString"].encode())
        return got["VersionId"], hashlib.sha256(got["SecretString"].encode()).hexdigest()

    def version_ids(self, secret: str) -> set[str]:
        """Every VersionId of `secret`'s entry (deprecated ones included)."""
        listed = self.sm.list_secret_version_ids(SecretId=f"titan/{secret}", IncludeDeprecated=True)
        return {v["VersionId"] for v in listed["Versions"]}

    def digest(self, service: str, path: str) -> str | None:
        cmd = ["docker", "compose", "-p", self.name, "exec", "-T", service, "sha256sum", path]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.project)
        return done.stdout.split()[0] if done.returncode == 0 else None

    def held(self, secret: str) -> dict[str, str | None]:
        """service -> the digest of its file of `secret` (and `<secret>.previous` for H)."""
        out = {
            s: self.digest(s, f"/run/secrets/{secret}") for s in ("titan-brain", "titan-execution")
        }
        if secret == H:
            out["previous"] = self.digest("titan-execution", f"/run/secrets/{H}.previous")
        return out

    def pins(self) -> dict:
        return json.loads((self.project / ".titan-deploy" / "backend-pins.json").read_text())

    def run(self, *args: str, crash_after: str = "") -> subprocess.CompletedProcess[str]:
        env = {**self.env, CRASH: crash_after} if crash_after else self.env
        done = td(self.project, self.name, *args, env=env)
        self.outputs.append(done)
        return done

    def ok(self, *args: str) -> dict:
        done = self.run(*args)
        assert done.returncode == 0, f"{args}: {done.stdout[-3000:]} {done.stderr[-3000:]}"
        return json.loads(done.stdout)


def test_up_rotate_resume_abort_through_aws_secrets_manager(tmp_path: Path) -> None:
    standin_image = subprocess.run(
        ["docker", "image", "inspect", "titan-demo/standin:latest"], capture_output=True
    )
    require(standin_image.returncode == 0, "image titan-demo/standin:latest (make demo-images)")
    image = ensure_aws_agent_image()
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    old, token = pyrandom.token_hex(32), pyrandom.token_urlsafe(32)
    canaries = Canaries({"old": old.encode(), "token": token.encode()})
    with moto_server(tmp_path) as server:
        project, env = aws_project(tmp_path, server, image, {H: old, T: token})
        chain = Chain(project, name, env, server, canaries)
        with torn_down(project, name, canaries, chain.outputs, env=env):
            chain.ok("push")
            shutil.rmtree(project / "secrets")  # from here on the value lives in the backend
            up = chain.ok("up", "--timeout", "120")
            assert {(r["service"], r["secret"]) for r in up["rows"] if not r["problem"]} == {
                (s, n) for s in ("titan-brain", "titan-execution") for n in (H, T)
            }
            first, old_digest = chain.version(H)
            assert chain.pins()[H]["base"] == first  # a Secrets Manager VersionId
            assert chain.digest("titan-brain", "/run/secrets/" + H) == old_digest

            with Traffic(name) as traffic:
                traffic.flows()
                rotated = chain.ok("rotate", "hmac", *FAST)
                traffic.flows()
            assert rotated["data"]["outcome"] == "completed", rotated["summary"]
            repoints = [r for r in rotated["rows"] if r["action"] == "repoint"]
            # the procedure's order: the listener holds primary + secondary before brain moves
            assert "titan-execution" in repoints[0]["step"]
            assert "titan-brain" not in repoints[0]["step"]
            assert "titan-brain" in repoints[1]["step"]
            second, new_digest = chain.version(H)
            assert second != first and new_digest != old_digest
            assert chain.held(H) == {
                "titan-brain": new_digest,
                "titan-execution": new_digest,
                "previous": old_digest,
            }
            assert traffic.signed > 0
            assert traffic.rejected == 0 and traffic.auth_failures == 0

            with Traffic(name) as traffic:
                chain.ok("rotate", "hmac", "--finish", "--force", *FAST)
                traffic.flows()
            assert traffic.rejected == 0 and traffic.auth_failures == 0
            assert chain.held(H)["previous"] is None
            verified = chain.ok("verify")
            assert verified["data"]["backend"] == "aws-secretsmanager"
            status = chain.ok("status")
            assert status["data"]["pins"][H]["base"] == second

            resume_an_interrupted_restart(chain)
            abort_an_interrupted_hmac(chain, second, new_digest)

            # the sidecar's log is among the logs torn_down checks: it names files and versions
            assert f"titan-aws-agent: /out/titan-brain/{H}: rendered" in project_logs(name)
            for secret in (H, T):  # every version any step wrote is a canary
                for version_id in chain.version_ids(secret):
                    chain.version(secret, version_id)
            for path in project.rglob("*"):
                if path.is_file():
                    canaries.assert_clean(path.read_text(errors="replace"), str(path))


def resume_an_interrupted_restart(chain: Chain) -> None:
    """`rotate secret T --generate` SIGKILLed after step 2 (brain repointed, execution not
    yet), then `rotate resume`: completed on the one version the rotation wrote, both consumers
    hold it, the base pin is AWSCURRENT's VersionId, verify passes."""
    before_id, before = chain.version(T)
    crashed = chain.run("rotate", "secret", T, "--generate", *FAST, crash_after="2")
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    written, after = chain.version(T)  # AWSCURRENT: the rotation's write
    assert written != before_id
    assert chain.held(T) == {"titan-brain": after, "titan-execution": before}  # mid-rotation
    assert chain.pins()[T]["base"] == before_id

    resumed = chain.ok("rotate", "resume", *FAST)
    assert resumed["data"]["outcome"] == "completed", resumed["summary"]
    assert chain.version_ids(T) == {before_id, written}  # the resume wrote nothing more
    assert chain.version(T) == (written, after)
    assert chain.pins()[T]["base"] == written
    assert chain.held(T) == {"titan-brain": after, "titan-execution": after}
    chain.ok("verify")


def abort_an_interrupted_hmac(chain: Chain, current: str, current_digest: str) -> None:
    """`rotate hmac` SIGKILLed after step 2 (the listener moved to primary new + previous
    current; brain still signs with `current`), then `rotate abort`: rolled back, the pins are
    what they were before it (the base on `current`'s VersionId), every file holds
    `current`'s value, no previous-key file, no rejected message nor auth failure from the
    rotation's start to the abort's end; verify passes."""
    pins = chain.pins()
    with Traffic(chain.name) as traffic:
        traffic.flows()
        crashed = chain.run("rotate", "hmac", *FAST, crash_after="2")
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        third, third_digest = chain.version(H)
        assert third != current
        assert chain.held(H) == {  # the listener moved, the signer did not
            "titan-brain": current_digest,
            "titan-execution": third_digest,
            "previous": current_digest,
        }
        traffic.flows()
        aborted = chain.ok("rotate", "abort", *FAST)
        traffic.flows()
    assert aborted["data"]["outcome"] == "rolled back", aborted["summary"]
    assert chain.pins() == pins
    assert chain.pins()[H]["base"] == current
    # AWSCURRENT is back on it too: `up` (it pins AWSCURRENT) would not deploy the aborted key
    assert chain.version(H) == (current, current_digest)
    assert chain.held(H) == {
        "titan-brain": current_digest,
        "titan-execution": current_digest,
        "previous": None,
    }
    assert traffic.signed > 0
    assert traffic.rejected == 0 and traffic.auth_failures == 0
    chain.ok("verify")
