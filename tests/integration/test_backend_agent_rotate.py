"""Central rotation on the agent path (README "Secrets managers"), on the real engine against a
real `bao server -dev` on 127.0.0.1: `rotate hmac` writes the new key as a new KV version, the
agent renders it and the consumers are recreated in the procedure's order (listeners accept
primary + secondary, two KV versions, before the signer moves); an interrupted rotation
resumes, a pending phase 1 aborts back to the old key, phase 2 retires the previous key; every
step ends verified against the backend's digests; no value in any output."""

from __future__ import annotations

import hashlib
import json
import os
import secrets as pyrandom
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import hvac
import pytest
import yaml

from tests.backendkit import approle, ensure_agent_image, openbao_manifest, openbao_server
from tests.canary import Canaries
from tests.stackkit_backend import project_with_values

MANIFEST = {
    "version": 1,
    "compose_files": ["docker-compose.yml"],
    "secrets": {
        "hmac_key": {
            "kind": "hex",
            "bytes": 32,
            "rotation": "hmac",
            "secondary_env": "HMAC_SECONDARY_FILE",
            "key_id_env": "HMAC_KEY_ID",
            "consumers": {
                "brain": {"env": "HMAC_FILE", "role": "signer"},
                "execution": {"env": "HMAC_FILE", "role": "listener"},
            },
        }
    },
}


class Stack:
    def __init__(self, project: Path, name: str, server) -> None:
        self.project, self.name = project, name
        self.kv = hvac.Client(url=server.url, token=server.token).secrets.kv.v2
        self.outputs: list[subprocess.CompletedProcess[str]] = []

    def td(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "titan_deploy", "-C", str(self.project), "-p", self.name]
        argv += ["--json", *args]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})}
        )
        self.outputs.append(done)
        return done

    def ok(self, *args: str) -> dict:
        done = self.td(*args)
        assert done.returncode == 0, f"{args}: {done.stdout[-3000:]} {done.stderr[-3000:]}"
        return json.loads(done.stdout)

    def exec(self, service: str, *argv: str) -> subprocess.CompletedProcess[str]:
        labels = [f"label=com.docker.compose.project={self.name}"]
        labels.append(f"label=com.docker.compose.service={service}")
        ps = ["docker", "ps", "-q", *[x for f in labels for x in ("--filter", f)]]
        [cid] = subprocess.run(ps, capture_output=True, text=True).stdout.split()
        return subprocess.run(["docker", "exec", cid, *argv], capture_output=True, text=True)

    def digest(self, service: str, path: str) -> str | None:
        done = self.exec(service, "busybox", "sha256sum", path)
        return done.stdout.split()[0] if done.returncode == 0 else None

    def kv_digest(self, version: int | None = None) -> str:
        answer = self.kv.read_secret_version(
            path="titan/hmac_key", version=version, mount_point="secret"
        )
        return hashlib.sha256(answer["data"]["data"]["value"].encode()).hexdigest()

    def kv_current(self) -> int:
        answer = self.kv.read_secret_version(path="titan/hmac_key", mount_point="secret")
        return int(answer["data"]["metadata"]["version"])

    def env(self, service: str) -> str:
        return self.exec(service, "busybox", "env").stdout


@pytest.mark.docker
def test_hmac_rotation_through_the_backend(tmp_path: Path, busybox_image: str) -> None:
    image = ensure_agent_image(tmp_path)
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    old = pyrandom.token_hex(32)
    with openbao_server(tmp_path) as server:
        project = project_with_values(tmp_path, MANIFEST, {"hmac_key": old})
        approle(server, project, "titan")
        loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
        consumer = {"image": busybox_image, "command": ["sh", "-c", loop], "pull_policy": "never"}
        compose = {"services": {"brain": dict(consumer), "execution": dict(consumer)}}
        (project / "docker-compose.yml").write_text(yaml.safe_dump(compose))
        manifest = project / "secrets.manifest.yml"
        manifest.write_text(
            manifest.read_text()
            + openbao_manifest(
                server, "titan", "{role_id_file: role-id, secret_id_file: secret-id}"
            )
            + f"  agent: {{image: '{image}', network_mode: host, render_interval: 1}}\n"
        )
        stack = Stack(project, name, server)
        try:
            stack.ok("push")
            shutil.rmtree(project / "secrets")
            stack.ok("up", "--timeout", "120")
            old_digest = stack.kv_digest()
            # interrupted after the listeners were repointed (step 3), then resumed
            crashed = stack.td("rotate", "hmac", env={"TITAN_DEPLOY_CRASH_AFTER_STEP": "3"})
            assert crashed.returncode != 0
            assert stack.td("up").returncode == 3  # a rotation is in flight
            resumed = stack.ok("rotate", "resume")
            assert "completed" in json.dumps(resumed)
            new_version = stack.kv_current()
            assert new_version == 2  # one central write: the old key was pinned, not copied
            new_digest = stack.kv_digest(new_version)
            assert new_digest != old_digest
            assert stack.digest("execution", "/run/secrets/hmac_key") == new_digest
            assert stack.digest("execution", "/run/secrets/hmac_key.previous") == old_digest
            assert stack.digest("brain", "/run/secrets/hmac_key") == new_digest
            key_ids = {line for line in stack.env("brain").splitlines() if "HMAC_KEY_ID" in line}
            assert key_ids and key_ids == {
                line for line in stack.env("execution").splitlines() if "HMAC_KEY_ID" in line
            }
            stack.ok("verify")
            # abort the pending phase 1: signer first, then listener, back on the old key
            stack.ok("rotate", "abort")
            assert stack.digest("brain", "/run/secrets/hmac_key") == old_digest
            assert stack.digest("execution", "/run/secrets/hmac_key") == old_digest
            assert stack.digest("execution", "/run/secrets/hmac_key.previous") is None
            stack.ok("verify")
            # a full rotation: phase 1, then phase 2 retires the previous key
            stack.ok("rotate", "hmac")
            stack.ok("rotate", "hmac", "--finish", "--force")
            latest = stack.kv_digest(stack.kv_current())
            assert latest not in (old_digest, new_digest)
            assert stack.digest("brain", "/run/secrets/hmac_key") == latest
            assert stack.digest("execution", "/run/secrets/hmac_key") == latest
            assert stack.digest("execution", "/run/secrets/hmac_key.previous") is None
            stack.ok("verify")
            pins = json.loads((project / ".titan-deploy" / "backend-pins.json").read_text())
            assert pins["hmac_key"]["base"] == stack.kv_current()
            ps = ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"]
            ids = subprocess.run(ps, capture_output=True, text=True).stdout.split()
            inspected = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True)
            values = {
                f"v{v}": stack.kv.read_secret_version(
                    path="titan/hmac_key", version=v, mount_point="secret"
                )["data"]["data"]["value"].encode()
                for v in range(1, stack.kv_current() + 1)
            }
        finally:
            stack.td("down", "--volumes")
        canaries = Canaries(values)
        # env dumps and argv of every container (the agent's included), and every file the
        # commands left in the project dir (journal, pins, history, agent files)
        canaries.assert_clean(inspected.stdout, "docker inspect")
        for path in project.rglob("*"):
            if path.is_file():
                canaries.assert_clean(path.read_text(errors="replace"), str(path))
        for done in stack.outputs:
            canaries.assert_clean(done.stdout + done.stderr, " ".join(done.args[6:]))
        journal = (project / ".titan-deploy" / "state.json").read_text()
        canaries.assert_clean(journal, "state.json")
        canaries.assert_clean((project / "bao-agent.hcl").read_text(), "bao-agent.hcl")
