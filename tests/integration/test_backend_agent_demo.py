"""The demo on the agent path (`make demo-vault`, README "Secrets managers"), on the real engine
against a real `bao server -dev` on 127.0.0.1, in one chain:

- the manifest is the demo's as demo/vault/manifest.py writes it, `configs:` included: redis.conf
  and nats-server's users at /run/secrets/nats/auth.conf, a subdirectory of the consumer's
  volume; `push`, then with no secrets dir on this host `up` deploys the whole demo through the
  sidecar and verifies every pair against its pinned KV version (nats-server starts with the
  rendered users and every Titan service connects to it);
- `rotate db` on the agent path: the new password is a new KV version, ALTER ROLE takes the
  pinned value from the backend, brain and postgres are repointed and verified; while it runs
  brain keeps signing and no listener rejects a message nor counts an auth failure (as the local
  path's test measures, tests/integration/test_rotation_db.py); PostgreSQL takes the new
  password and refuses the old one;
- `rotate nats` on the agent path: the new user and password are new KV versions, the server's
  config gets a KV version accepting the old AND the new user (the overlap), which the agent
  renders into nats-server's volume and the server is reloaded onto (the same container: never
  restarted); each client moves with no NATS auth failure; then the config with the new user
  only;
- `rotate exchange binance` on the agent path: a new key pair registered at the demo exchange
  (as tests/integration/test_rotation_exchange.py does on the local path), given with
  --from-file twice (0600 files in a temp dir), becomes KV version 2 of both entries; each
  consumer is recreated on it and logs its proof (`Exchange connected (binance)`), the demo
  exchange reports every consumer connected, no message is rejected nor an auth failure
  counted while it runs; every consumer holds the new versions and `verify` is ok;
- no value (the new key pair's included) in any output or container log."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import hvac
import pytest

from tests.backendkit import approle, ensure_agent_image, openbao_server
from tests.integration.demo import make_demo
from tests.integration.rotation_kit import (
    Traffic,
    assert_no_canary,
    container_logs,
    docker_client,
    make_rotation_stack,
    psql_login,
)
from tests.integration.test_rotation_exchange import CONSUMERS, connected, new_pair

pytestmark = pytest.mark.docker

STATE = ".titan-deploy/vault"  # as scripts/demo-vault.sh
PREFIX = "titan/demo"
FAST = ["--stop-timeout", "1", "--settle", "1"]
DB = "titan_db_password"


def running(project: str, service: str):
    """`service`'s one running container (the Docker SDK's)."""
    filters = {"label": [f"com.docker.compose.project={project}"]}
    filters["label"].append(f"com.docker.compose.service={service}")
    [container] = docker_client().containers.list(filters=filters)
    return container


def container_id(project: str, service: str) -> str:
    return running(project, service).id


def in_container(project: str, service: str, path: str) -> str | None:
    """sha256 of `path` in `service`'s running container (None if it cannot be read)."""
    code, out = running(project, service).exec_run(["sha256sum", path])
    return out.decode().split()[0] if code == 0 else None


def test_the_demo_with_its_configs_then_rotate_db_nats_and_exchange_through_the_backend(
    tmp_path: Path, demo_images
) -> None:
    image = ensure_agent_image(tmp_path)
    with openbao_server(tmp_path) as server:
        stack = make_rotation_stack(make_demo(tmp_path))
        root = stack.root
        (root / STATE).mkdir(parents=True, mode=0o700)
        approle(server, root / STATE, PREFIX)
        manifest = root / "secrets.manifest.yml"
        generate = [sys.executable, str(root / "demo/vault/manifest.py"), str(manifest)]
        generate += [str(manifest), server.url, STATE, image]
        subprocess.run(generate, check=True, capture_output=True)
        kv = hvac.Client(url=server.url, token=server.token).secrets.kv.v2

        def kv_entry(name: str, version: int | None = None) -> dict:
            path = f"{PREFIX}/{name}"
            return kv.read_secret_version(
                path=path, version=version, mount_point="secret", raise_on_deleted_version=True
            )["data"]

        def ok(*args: str) -> dict:
            done = stack.td("--json", *args, timeout=600)
            assert done.returncode == 0, f"{args}: {done.output[-4000:]}"
            return json.loads(done.stdout)

        try:
            ok("push")
            shutil.rmtree(root / "secrets")  # from here on, the values live in OpenBao only
            up = ok("up", "--timeout", "240")
            pairs = {(r["service"], r["secret"]) for r in up["rows"]}
            assert {("nats", "nats_auth_conf"), ("redis", "redis.conf")} <= pairs
            users = kv_entry("nats_auth_conf")["data"]["value"]
            digest = hashlib.sha256(users.encode()).hexdigest()
            assert in_container(stack.name, "nats", "/run/secrets/nats/auth.conf") == digest

            old = kv_entry(DB)["data"]["value"].encode()
            with Traffic(stack.name) as traffic:
                rotated = ok("rotate", "db", *FAST)
                traffic.flows()
            assert rotated["data"]["outcome"] == "completed"
            actions = [r["action"] for r in rotated["rows"]]
            assert actions[:3] == ["write-version", "provision", "repoint"]
            assert traffic.rejected == 0 and traffic.auth_failures == 0
            entry = kv_entry(DB)
            assert entry["metadata"]["version"] == 2
            new = entry["data"]["value"].encode()
            stack.values[f"{DB}@new"] = new
            from titan_deploy.io.engine import connect

            engine = connect()
            (brain,) = engine.containers(stack.name, "titan-brain")
            assert psql_login(engine, brain.id, new) == "OK"
            assert psql_login(engine, brain.id, old) == "REFUSED"
            assert json.loads((root / STATE / "backend-pins.json").read_text())[DB]["base"] == 2

            # rotate nats: the server accepts old + new users (a KV version of its config) and
            # is reloaded, never restarted, while each client moves; then the new user only
            nats_id = container_id(stack.name, "nats")
            old_user = kv_entry("nats_user")["data"]["value"]
            with Traffic(stack.name) as traffic:
                rotated = ok("rotate", "nats", *FAST)
                traffic.flows()
            assert rotated["data"]["outcome"] == "completed"
            assert container_id(stack.name, "nats") == nats_id  # reloaded, never restarted
            assert traffic.total("nats_auth_failures") == 0
            assert traffic.rejected == 0 and traffic.auth_failures == 0
            new_user = kv_entry("nats_user")["data"]["value"]
            stack.values["nats_password@new"] = kv_entry("nats_password")["data"]["value"].encode()
            overlap, final = kv_entry("nats_auth_conf", 2), kv_entry("nats_auth_conf", 3)
            assert old_user in overlap["data"]["value"] and new_user in overlap["data"]["value"]
            assert old_user not in final["data"]["value"] and new_user in final["data"]["value"]
            digest = hashlib.sha256(final["data"]["value"].encode()).hexdigest()
            assert in_container(stack.name, "nats", "/run/secrets/nats/auth.conf") == digest

            # rotate exchange binance: a registered new pair, from two 0600 files, becomes KV
            # version 2 of both entries; each consumer is recreated on it and proves it
            files_dir = tmp_path / "exchange-input"
            files_dir.mkdir(mode=0o700)
            key, secret, files = new_pair(stack, files_dir, "binance", register=True)
            assert all(Path(f).stat().st_mode & 0o777 == 0o600 for f in files)
            argv = ["rotate", "exchange", "binance", "--from-file", files[0]]
            argv += ["--from-file", files[1], "--log-timeout", "30", *FAST]
            with Traffic(stack.name) as traffic:
                rotated = ok(*argv)
                traffic.flows()
            assert rotated["data"]["outcome"] == "completed", rotated["summary"]
            proofs = [r for r in rotated["rows"] if r["action"] == "check-log"]
            assert len(proofs) == len(CONSUMERS) and all(r["status"] == "done" for r in proofs)
            assert any("revoke the OLD binance" in f["message"] for f in rotated["findings"])
            assert traffic.rejected == 0 and traffic.auth_failures == 0
            assert connected(stack, "binance") == dict.fromkeys(CONSUMERS, 1.0)
            pins = json.loads((root / STATE / "backend-pins.json").read_text())
            for name, value in (("binance_api_key", key), ("binance_api_secret", secret)):
                entry = kv_entry(name)
                assert entry["metadata"]["version"] == 2
                assert entry["data"]["value"] == value.decode()
                assert pins[name]["base"] == 2
                digest = hashlib.sha256(value).hexdigest()
                for service in CONSUMERS:
                    assert in_container(stack.name, service, f"/run/secrets/{name}") == digest
            ok("verify")
        finally:
            logs = container_logs(stack.name)
            down = stack.td("down", "--volumes")
        assert down.returncode == 0, down.output
        assert_no_canary(stack, [*stack.outputs, logs])
