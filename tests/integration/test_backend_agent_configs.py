"""Config files on the agent path (README "Secrets managers", "Config files"), on the real engine
against a real `bao server -dev` on 127.0.0.1, in one chain: `push` writes the secret and the
config rendered from it (a derived entry); with no secrets dir on this host, `up` deploys both
through the sidecar (the config at a target in a subdirectory of /run/secrets, which the
agent creates in the consumer's volume) and verifies them against the pinned versions;
`status` reports the pins and each consumer's file; a central rotation of the config's input
writes a new version of the secret AND of the config and repoints both consumers, verified by
hash; `audit-logs` searches the backend's values; no value in any output."""

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
    approle,
    ensure_agent_image,
    in_container,
    openbao_manifest,
    openbao_server,
    td,
    torn_down,
)
from tests.canary import Canaries
from tests.projectkit import REDIS_TEMPLATE, config_project

CONF = "/run/secrets/redis/redis.conf"  # in a subdirectory of the consumer's volume


def rendered(value: str) -> str:
    return f"appendonly yes\nrequirepass {json.dumps(value)}\n"


@pytest.mark.docker
def test_a_config_through_the_agent_up_status_rotate_audit(
    tmp_path: Path, busybox_image: str
) -> None:
    image = ensure_agent_image(tmp_path)
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    with openbao_server(tmp_path) as server:
        head = openbao_manifest(
            server, "titan", "{role_id_file: role-id, secret_id_file: secret-id}"
        )
        head += f"  agent: {{image: '{image}', network_mode: host, render_interval: 1}}\n"
        project_obj, value = config_project(tmp_path / "p", REDIS_TEMPLATE, head=head)
        project = project_obj.project_dir
        manifest = project / "secrets.manifest.yml"
        text = manifest.read_text()
        assert "target: /run/secrets/redis.conf" in text
        manifest.write_text(text.replace("/run/secrets/redis.conf", CONF))
        approle(server, project, "titan")
        loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
        consumer = {"image": busybox_image, "command": ["sh", "-c", loop], "pull_policy": "never"}
        compose = {"services": {"redis": dict(consumer), "client": dict(consumer)}}
        (project / "docker-compose.yml").write_text(yaml.safe_dump(compose))
        canaries = Canaries({"redis_password": value})
        kv = hvac.Client(url=server.url, token=server.token).secrets.kv.v2
        outputs: list[subprocess.CompletedProcess[str]] = []
        with torn_down(project, name, canaries, outputs):
            pushed = td(project, name, "push")
            outputs.append(pushed)
            assert pushed.returncode == 0, pushed.stdout + pushed.stderr
            shutil.rmtree(project / "secrets")  # nothing on this host
            up = td(project, name, "up", "--timeout", "120")
            outputs.append(up)
            assert up.returncode == 0, up.stdout + up.stderr
            pairs = {(r["service"], r["secret"]) for r in json.loads(up.stdout)["rows"]}
            assert pairs == {("redis", "redis_conf"), ("client", "redis_password")}
            conf = hashlib.sha256(rendered(value.decode()).encode()).hexdigest()
            assert in_container(name, "redis", CONF) == conf

            status = td(project, name, "status")
            outputs.append(status)
            assert status.returncode == 0, status.stdout + status.stderr
            doc = json.loads(status.stdout)
            assert {r["service"]: r["secrets"] for r in doc["rows"]} == {
                "redis": "1/1 verified",
                "client": "1/1 verified",
                "secrets-agent": "-",  # the sidecar: no secret of its own
            }
            assert doc["data"]["pins"]["redis_conf"] == {"base": 1}
            ages = {a["secret"]: a for a in doc["data"]["ages"]}  # from KV v2's created_time
            assert ages["redis_password"]["age_days"] == 0
            assert ages["redis_conf"]["file"] == "openbao:secret/titan/redis_conf (version 1)"

            fresh = tmp_path / "new-password"
            fresh.write_text("Rp-" + pyrandom.token_urlsafe(24))
            canaries.add("new", fresh.read_bytes())
            rotated = td(
                project, name, "rotate", "secret", "redis_password", "--from-file", str(fresh)
            )
            outputs.append(rotated)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            entry = kv.read_secret_version(
                path="titan/redis_conf", mount_point="secret", raise_on_deleted_version=True
            )["data"]
            assert entry["metadata"]["version"] == 2
            assert entry["data"]["value"] == rendered(fresh.read_text())
            new_conf = hashlib.sha256(entry["data"]["value"].encode()).hexdigest()
            assert in_container(name, "redis", CONF) == new_conf
            new_pw = hashlib.sha256(fresh.read_bytes()).hexdigest()
            assert in_container(name, "client", "/run/secrets/redis_password") == new_pw
            verified = td(project, name, "verify")
            outputs.append(verified)
            assert verified.returncode == 0, verified.stdout

            audit = td(project, name, "audit-logs")
            outputs.append(audit)
            assert audit.returncode == 0, audit.stdout + audit.stderr
            assert set(json.loads(audit.stdout)["data"]["secrets_searched"]) == {"redis_password"}
