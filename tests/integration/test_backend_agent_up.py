"""`up`, `verify` and `down` on the agent path (README "Secrets managers"), on the real engine
against a real `bao server -dev` on 127.0.0.1: the sidecar (network_mode host) renders the
pinned KV versions, the consumers start after it, and verify compares each container's file
with the digest of the backend's version (a pin moved to another KV version fails it)."""

from __future__ import annotations

import hashlib
import json
import secrets as pyrandom
import shutil
import subprocess
import uuid
from pathlib import Path

import hvac
import pytest
import yaml

from tests.backendkit import (
    AGENT_MANIFEST,
    approle,
    ensure_agent_image,
    in_container,
    openbao_manifest,
    openbao_server,
    td,
    torn_down,
)
from tests.canary import Canaries
from tests.stackkit_backend import project_with_values

MANIFEST = AGENT_MANIFEST


def agent_project(tmp_path: Path, server, busybox_image: str, image: str, values: dict) -> Path:
    """A project whose consumers are busybox loops and whose backend is `server`, on the agent
    path (the sidecar on the host's network: the server listens on 127.0.0.1)."""
    project = project_with_values(tmp_path, MANIFEST, values)
    approle(server, project, "titan")
    loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
    consumer = {"image": busybox_image, "command": ["sh", "-c", loop], "pull_policy": "never"}
    compose = {"services": {"web": dict(consumer), "api": {**consumer, "user": "1000"}}}
    (project / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text()
        + openbao_manifest(server, "titan", "{role_id_file: role-id, secret_id_file: secret-id}")
        + f"  agent: {{image: '{image}', network_mode: host, render_interval: 1}}\n"
    )
    return project


@pytest.mark.docker
def test_up_and_verify_prove_the_backend_versions(tmp_path: Path, busybox_image: str) -> None:
    image = ensure_agent_image(tmp_path)
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    values = {"db_password": pyrandom.token_urlsafe(32), "api_token": pyrandom.token_urlsafe(32)}
    canaries = Canaries({k: v.encode() for k, v in values.items()})
    with openbao_server(tmp_path) as server:
        project = agent_project(tmp_path, server, busybox_image, image, values)
        outputs: list[subprocess.CompletedProcess[str]] = []
        with torn_down(project, name, canaries, outputs):
            pushed = td(project, name, "push")
            assert pushed.returncode == 0, pushed.stderr
            shutil.rmtree(project / "secrets")  # the agent path needs no local values
            up = td(project, name, "up", "--timeout", "120")
            outputs += [pushed, up]
            assert up.returncode == 0, up.stdout + up.stderr
            report = json.loads(up.stdout)
            pairs = {(r["service"], r["secret"]) for r in report["rows"] if not r["problem"]}
            assert pairs == {("web", "db_password"), ("api", "db_password"), ("api", "tok")}
            assert all(r["content"] for r in report["rows"])
            assert [s["stage"] for s in report["data"]["stages"]] == [
                "check-secrets",
                "render",
                "compose up",
                "verify",
            ]
            # a new central version does not reach the pinned consumers: verify stays ok
            client = hvac.Client(url=server.url, token=server.token)
            newer = pyrandom.token_urlsafe(32)
            canaries.add("newer", newer.encode())
            client.secrets.kv.v2.create_or_update_secret(
                path="titan/db_password", secret={"value": newer}, mount_point="secret"
            )
            verified = td(project, name, "verify")
            outputs.append(verified)
            assert verified.returncode == 0, verified.stdout
            # a restart secret rotated centrally (the path `rotate exchange` shares): a new KV
            # version, rendered, api recreated on it and verified against the backend
            fresh = tmp_path / "new-token"
            fresh.write_text(pyrandom.token_urlsafe(32))
            canaries.add("given", fresh.read_bytes())
            rotated = td(project, name, "rotate", "secret", "api_token", "--from-file", str(fresh))
            outputs.append(rotated)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            token = client.secrets.kv.v2.read_secret_version(
                path="titan/api_token", mount_point="secret", raise_on_deleted_version=True
            )["data"]
            assert token["metadata"]["version"] == 2
            assert token["data"]["value"] == fresh.read_text()  # the value given, centrally
            digest = hashlib.sha256(token["data"]["value"].encode()).hexdigest()
            assert in_container(name, "api", "/run/secrets/tok") == digest
            assert td(project, name, "verify").returncode == 0
            # pinned to the new version, the containers (still on the old) fail the content check
            pins_path = project / ".titan-deploy" / "backend-pins.json"
            pins = json.loads(pins_path.read_text())
            pins["db_password"]["base"] += 1
            pins_path.write_text(json.dumps(pins))
            failed = td(project, name, "verify")
            outputs.append(failed)
            assert failed.returncode == 1, failed.stdout
            bad = {
                (r["service"], r["secret"])
                for r in json.loads(failed.stdout)["rows"]
                if r["problem"]
            }
            assert bad == {("web", "db_password"), ("api", "db_password")}
