"""Config files on the real engine (README "Config files", issue 12 items 1 and 4): redis reads
`requirepass` from a redis.conf rendered from a template and its password secret; no process in
the container ever has the password on argv (sampled in /proc while the healthcheck runs),
nor does the container's config; verify proves the rendered file; `rotate secret` of the input
renders a new version that redis is recreated on; a container file that is not a fresh render
is a verify finding (V009)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from tests.integration.stackkit import Stack, assert_no_canary

pytestmark = pytest.mark.docker

IMAGE = "titan-demo/base:bookworm"  # Debian's redis-server (scripts/build-demo-images.sh)
TEMPLATE = "appendonly no\nrequirepass {{ redis_password | tojson }}\n"
HEALTH = 'REDISCLI_AUTH="$$(cat "$$REDIS_PASSWORD_FILE")" redis-cli ping | grep -q PONG'


def _has_image() -> bool:
    done = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture
def redis_stack(tmp_path: Path, docker_engine):
    require(_has_image(), f"{IMAGE} (built by scripts/build-demo-images.sh)")
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "redis.conf.j2").write_text(TEMPLATE)
    manifest = {
        "version": 1,
        "compose_files": ["docker-compose.yml"],
        "secrets_gid": 10500,
        "secrets": {
            "redis_password": {
                "kind": "password",
                "min_length": 24,
                "generate": True,
                "consumers": {"redis": "REDIS_PASSWORD_FILE"},
            }
        },
        "configs": {
            "redis_conf": {
                "template": "templates/redis.conf.j2",
                "inputs": ["redis_password"],
                "file": "redis.conf",
                "consumers": {"redis": {"target": "/run/secrets/redis.conf"}},
            }
        },
    }
    (root / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    compose = {
        "services": {
            "redis": {
                "image": IMAGE,
                "pull_policy": "never",
                "working_dir": "/tmp",
                "command": ["redis-server", "/run/secrets/redis.conf"],
                "labels": {"org.titan-deploy.test": "1"},
                "healthcheck": {
                    "test": ["CMD-SHELL", HEALTH],
                    "interval": "1s",
                    "timeout": "3s",
                    "retries": 30,
                },
            }
        }
    }
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    stack = Stack(root=root, name=name, image=IMAGE)
    init = stack.td("init")
    assert init.returncode == 0, init.output
    stack.values["redis_password"] = stack.secret_path("redis_password").read_bytes().strip()
    yield stack
    stack.down()


def _container(stack: Stack) -> str:
    ids = stack.compose("ps", "-q", "redis").stdout.split()
    assert len(ids) == 1, ids
    return ids[0]


def _argv_samples(container: str, rounds: int = 40) -> list[str]:
    """Every process's argv in the container, `rounds` times (the healthcheck's redis-cli runs
    every second: the samples catch it)."""
    script = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done"
    out = []
    for _ in range(rounds):
        done = subprocess.run(
            ["docker", "exec", container, "sh", "-c", script],
            capture_output=True,
            text=True,
            check=False,
        )
        out.append(done.stdout)
    return out


def test_redis_reads_its_password_from_the_rendered_config_never_from_argv(redis_stack) -> None:
    stack = redis_stack
    up = stack.td("up", "--timeout", "120")
    assert up.returncode == 0, up.output
    assert (stack.root / "secrets" / "redis.conf").stat().st_mode & 0o777 == 0o640
    verify = stack.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    rows = {(r["service"], r["secret"]): r for r in json.loads(verify.stdout)["rows"]}
    assert rows[("redis", "redis.conf")]["content"] is True  # the mount's file name
    assert not rows[("redis", "redis.conf")]["problem"]
    container = _container(stack)
    samples = _argv_samples(container)
    assert any("redis-server" in s for s in samples)
    inspect = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    config = json.loads(inspect)[0]["Config"]
    shown = json.dumps([config.get("Cmd"), config.get("Entrypoint"), config.get("Env")])
    assert_no_canary(stack, "\n".join([*samples, shown, json.dumps(config.get("Healthcheck"))]))
    # an edited template: `up` renders it again and recreates redis on the new file
    (stack.root / "templates" / "redis.conf.j2").write_text("# edited\n" + TEMPLATE)
    again = stack.td("--json", "up", "--timeout", "120")
    assert again.returncode == 0, again.output
    assert json.loads(again.stdout)["data"]["recreated"] == {"redis": ["redis_conf"]}
    container = _container(stack)
    # redis really requires the password: without it, NOAUTH
    noauth = subprocess.run(
        ["docker", "exec", container, "redis-cli", "ping"], capture_output=True, text=True
    )
    assert "NOAUTH" in noauth.stdout + noauth.stderr


def test_rotating_the_input_renders_a_new_version_and_verify_catches_a_stale_render(
    redis_stack,
) -> None:
    stack = redis_stack
    assert stack.td("up", "--timeout", "120").returncode == 0
    rotate = stack.td("rotate", "secret", "redis_password", "--generate", "--timeout", "120")
    assert rotate.returncode == 0, rotate.output
    new = stack.secret_path("redis_password").read_bytes().strip()
    assert new != stack.values["redis_password"]
    stack.values["redis_password_new"] = new
    state = json.loads((stack.root / ".titan-deploy" / "state.json").read_text())
    version = state["assignments"]["redis_conf"]["redis"]["version"]
    rendered = (stack.root / "secrets" / f"redis.conf.v{version}").read_bytes()
    assert b'requirepass "' + new + b'"' in rendered
    verify = stack.td("verify")
    assert verify.returncode == 0, verify.output  # redis holds the new version, a fresh render
    # the template changes and nothing re-renders: the container's file is no fresh render
    (stack.root / "templates" / "redis.conf.j2").write_text("# changed\n" + TEMPLATE)
    stale = stack.td("--json", "verify")
    assert stale.returncode == 1, stale.output
    codes = {f["code"] for f in json.loads(stale.stdout)["findings"]}
    assert "V009" in codes
    assert_no_canary(stack)
