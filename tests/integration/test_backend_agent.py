"""The OpenBao Agent path (README "Secrets managers"): `render-agent`'s configuration run by the
real `bao agent` renders exactly the values `push` wrote; and on the real engine, the sidecar
renders into one tmpfs volume per consumer, mounted as a directory at /run/secrets, the
consumers starting only once every file is there."""

from __future__ import annotations

import hashlib
import json
import secrets as pyrandom
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.backendkit import (
    AGENT_MANIFEST,
    approle,
    bao_binary,
    ensure_agent_image,
    openbao_manifest,
    openbao_server,
)
from tests.canary import Canaries
from tests.poll import wait_until
from tests.stackkit_backend import project_with_values

MANIFEST = AGENT_MANIFEST
COMPOSE_AGENT = ["docker", "compose", "-f", "docker-compose.yml", "-f", "docker-compose.agent.yml"]


def run_agent_here(hcl: str, tmp_path: Path, role: Path, secret_id: Path, files: set[str]) -> Path:
    """Run the real `bao agent` on this host with `hcl` (render-agent's configuration, its
    container paths moved under `tmp_path`) until every one of `files` is rendered; the
    directory they are rendered into (its log: tmp_path/agent.log)."""
    out = tmp_path / "out"
    local = (
        hcl.replace('"/out/', f'"{out}/')
        .replace('"/run/bao-agent/role-id"', f'"{role}"')
        .replace('"/run/bao-agent/secret-id"', f'"{secret_id}"')
    )
    (tmp_path / "agent.hcl").write_text(local)
    with open(tmp_path / "agent.log", "wb") as log:
        agent = subprocess.Popen(
            [bao_binary(), "agent", f"-config={tmp_path / 'agent.hcl'}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: all((out / f).exists() for f in files), "agent rendered", 60)
        finally:
            agent.terminate()
            agent.wait(timeout=20)
    return out


def test_the_real_agent_renders_what_push_wrote(tmp_path: Path, cli) -> None:
    values = {"db_password": pyrandom.token_urlsafe(32), "api_token": pyrandom.token_urlsafe(32)}
    with openbao_server(tmp_path) as server:
        role, secret_id = approle(server, tmp_path, "titan")
        project = project_with_values(tmp_path, MANIFEST, values)
        auth = f"{{role_id_file: {role}, secret_id_file: {secret_id}}}"
        section = openbao_manifest(server, "titan", auth)
        (project / "secrets.manifest.yml").write_text(
            (project / "secrets.manifest.yml").read_text() + section
        )
        (project / "docker-compose.yml").write_text(
            "services: {web: {image: x}, api: {image: x}}\n"
        )
        assert cli("-C", project, "push").exit_code == 0
        result = cli("-C", project, "--json", "render-agent")
        assert result.exit_code == 0, result.stdout
        assert cli("-C", project, "render-agent", "--check").exit_code == 0
        hcl = (project / "bao-agent.hcl").read_text()
        canaries = Canaries({k: v.encode() for k, v in values.items()})
        canaries.assert_clean(hcl, "bao-agent.hcl")
        canaries.assert_clean((project / "docker-compose.agent.yml").read_text(), "compose")
        files = {"web/db_password", "api/db_password", "api/tok"}
        out = run_agent_here(hcl, tmp_path, role, secret_id, files)
        assert (out / "web/db_password").read_text() == values["db_password"]
        assert (out / "api/db_password").read_text() == values["db_password"]
        assert (out / "api/tok").read_text() == values["api_token"]
        assert sorted(p.name for p in out.iterdir()) == ["api", "web"]  # one dir per consumer
        canaries.assert_clean((tmp_path / "agent.log").read_text(errors="replace"), "agent log")


def test_render_agent_needs_approle_and_replaces_only_its_own_files(tmp_path: Path, cli) -> None:
    project = project_with_values(tmp_path, MANIFEST, {})
    (project / "docker-compose.yml").write_text("services: {web: {image: x}, api: {image: x}}\n")
    manifest = project / "secrets.manifest.yml"
    text = manifest.read_text()
    manifest.write_text(text + "backend: {type: openbao, address: 'http://x:8200', auth: {")
    manifest.write_text(manifest.read_text() + "token_file: t}}\n")
    result = cli("-C", project, "render-agent")
    assert result.exit_code == 2 and "AppRole" in result.stderr
    manifest.write_text(
        text + "backend: {type: openbao, address: 'http://x:8200', "
        "auth: {role_id_file: r, secret_id_file: s}}\n"
    )
    (project / "bao-agent.hcl").write_text("mine\n")
    result = cli("-C", project, "render-agent")
    assert result.exit_code == 2 and "not rendered by titan-deploy" in result.stderr
    assert (project / "bao-agent.hcl").read_text() == "mine\n"
    (project / "bao-agent.hcl").unlink()
    assert cli("-C", project, "render-agent", "--check").exit_code == 1
    assert cli("-C", project, "render-agent").exit_code == 0
    assert cli("-C", project, "render-agent", "--check").exit_code == 0


def test_the_agent_compose_takes_the_base_plain_values_out(tmp_path: Path, cli) -> None:
    """As the overlay does (issue 10 item 2): a base `DB_PASSWORD` (mapping form) is reset, a
    list-form `TOKEN=...` is dropped under `!override` keeping the other variables, and a base
    `secrets:` entry of a managed secret is replaced; checked by the real `docker compose
    config` of the base files plus the agent's compose file."""
    project = project_with_values(tmp_path, MANIFEST, {})
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text() + "backend: {type: openbao, address: 'http://127.0.0.1:8200', "
        "auth: {role_id_file: r, secret_id_file: s}}\n"
    )
    (project / "docker-compose.yml").write_text(
        "services:\n"
        "  web:\n    image: x\n"
        "    environment: {DB_PASSWORD: '${PGPW:-devdefaultpw}', LOG_LEVEL: info}\n"
        "    secrets: [db_password, other]\n"
        "  api:\n    image: x\n"
        "    environment: [TOKEN=legacy-in-base, DB_PASSWORD=legacy-too, MODE=prod]\n"
        "secrets:\n  db_password: {file: ./db/password.txt}\n  other: {file: ./other.txt}\n"
    )
    assert cli("-C", project, "render-agent").exit_code == 0
    done = subprocess.run(
        [*COMPOSE_AGENT, "config", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert services["web"]["environment"] == {
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
        "LOG_LEVEL": "info",
    }
    assert services["api"]["environment"] == {
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
        "TOKEN_FILE": "/run/secrets/tok",
        "MODE": "prod",
    }
    assert [s["source"] for s in services["web"].get("secrets", [])] == ["other"]


@pytest.mark.docker
def test_sidecar_renders_into_per_consumer_tmpfs(tmp_path: Path, busybox_image: str) -> None:
    image = ensure_agent_image(tmp_path)
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    values = {"db_password": pyrandom.token_urlsafe(32), "api_token": pyrandom.token_urlsafe(32)}
    project = project_with_values(tmp_path, MANIFEST, values)
    token = "root-" + pyrandom.token_hex(8)
    loop = "trap 'exit 0' TERM; while true; do sleep 1; done"
    consumer = {"image": busybox_image, "command": ["sh", "-c", loop], "pull_policy": "never"}
    compose = {
        "services": {
            "bao": {
                "image": image,
                "command": ["server", "-dev", "-dev-listen-address=0.0.0.0:8200"],
                "environment": {"BAO_DEV_ROOT_TOKEN_ID": token},
                "ports": ["127.0.0.1::8200"],
                "pull_policy": "never",
            },
            "web": dict(consumer),
            "api": {**consumer, "user": "1000"},
        }
    }
    (project / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    base = ["docker", "compose", "--project-directory", str(project), "-p", name]

    def dc(*args: str, files=("docker-compose.yml",)) -> subprocess.CompletedProcess[str]:
        argv = [*base, *[x for f in files for x in ("-f", str(project / f))], *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)

    try:
        assert dc("up", "-d", "bao").returncode == 0
        port = dc("port", "bao", "8200").stdout.strip().rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        from tests.backendkit import Server, _answers

        wait_until(lambda: _answers(f"{url}/v1/sys/health"), "bao in a container", 60)
        approle(Server(None, url, token), project, "titan")  # type: ignore[arg-type]
        (project / "secrets.manifest.yml").write_text(
            (project / "secrets.manifest.yml").read_text()
            + openbao_manifest(
                Server(None, url),  # type: ignore[arg-type]
                "titan",
                "{role_id_file: role-id, secret_id_file: secret-id}",
            )
            + f"  agent: {{address: 'http://bao:8200', image: '{image}'}}\n"
        )
        td = [sys.executable, "-m", "titan_deploy", "-C", str(project), "--json"]
        pushed = subprocess.run([*td, "push"], capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
        rendered = subprocess.run([*td, "render-agent"], capture_output=True, text=True)
        assert rendered.returncode == 0, rendered.stderr
        files = ("docker-compose.yml", "docker-compose.agent.yml")
        up = dc("up", "-d", "--wait", "--wait-timeout", "120", files=files)
        assert up.returncode == 0, up.stderr[-3000:]
        expected = {
            ("web", "/run/secrets/db_password"): values["db_password"],
            ("api", "/run/secrets/db_password"): values["db_password"],
            ("api", "/run/secrets/tok"): values["api_token"],
        }
        for (service, path), value in expected.items():
            got = dc("exec", "-T", service, "busybox", "sha256sum", path, files=files)
            assert got.returncode == 0, got.stderr
            assert got.stdout.split()[0] == hashlib.sha256(value.encode()).hexdigest()
        # api does not see web's files and vice versa: one volume per consumer, read-only
        assert dc("exec", "-T", "web", "ls", "/run/secrets", files=files).stdout.split() == [
            "db_password"
        ]
        cid = dc("ps", "-q", "api", files=files).stdout.strip()
        mounts = json.loads(
            subprocess.run(
                ["docker", "inspect", "-f", "{{json .Mounts}}", cid], capture_output=True, text=True
            ).stdout
        )
        mount = next(m for m in mounts if m["Destination"] == "/run/secrets")
        assert mount["Type"] == "volume" and mount["RW"] is False
        env = dc("exec", "-T", "api", "env", files=files).stdout
        assert "TOKEN_FILE=/run/secrets/tok" in env
        canaries = Canaries({k: v.encode() for k, v in values.items()})
        for text in (pushed.stdout, pushed.stderr, rendered.stdout, env):
            canaries.assert_clean(text, "output")
    finally:
        dc(
            "down",
            "--volumes",
            "--remove-orphans",
            "--timeout",
            "2",
            files=[
                f
                for f in ("docker-compose.yml", "docker-compose.agent.yml")
                if (project / f).exists()
            ],
        )


def test_the_real_agent_renders_a_config_from_its_derived_entry(tmp_path: Path, cli) -> None:
    """A config (README "Config files") on the agent path: `push` renders it from the values it
    pushes and writes the text as a derived entry; check-secrets --backend passes; the real
    `bao agent` renders it into its consumer's directory, byte for byte; no value in any output."""
    from tests.projectkit import config_project

    with openbao_server(tmp_path) as server:
        role, secret_id = approle(server, tmp_path, "titan")
        auth = f"{{role_id_file: {role}, secret_id_file: {secret_id}}}"
        section = openbao_manifest(server, "titan", auth).replace(
            "backend:\n", "backend:\n  agent: {}\n"
        )
        project_obj, value = config_project(tmp_path / "cfg", head=section)
        project = project_obj.project_dir
        outputs = []
        for args in (["push"], ["check-secrets", "--backend"], ["render-agent"]):
            result = cli("-C", project, "--json", *args)
            outputs.append(result.stdout + result.stderr)
            assert result.exit_code == 0, (args, result.stdout, result.stderr)
        pushed = {r["secret"]: r["action"] for r in json.loads(outputs[0])["rows"]}
        assert pushed == {"redis_password": "create", "redis_conf": "create"}
        expected = f"appendonly yes\nrequirepass {json.dumps(value.decode())}\n"
        hcl = (project / "bao-agent.hcl").read_text()
        files = {"redis/redis.conf", "client/redis_password"}
        out = run_agent_here(hcl, tmp_path, role, secret_id, files)
        assert (out / "redis/redis.conf").read_text() == expected
        canaries = Canaries({"redis_password": value})
        for i, text in enumerate(outputs):
            canaries.assert_clean(text, f"output {i}")
        canaries.assert_clean(hcl, "bao-agent.hcl")
        canaries.assert_clean((tmp_path / "agent.log").read_text(errors="replace"), "agent log")
