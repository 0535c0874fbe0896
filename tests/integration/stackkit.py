"""A small real stack for integration tests: busybox services that consume canary secrets.

Each stack is a temp project dir with its own manifest, compose file, secrets (random canaries)
and a random compose project name, so runs never collide and cleanup touches only what the test
created (`docker compose -p <name> down -v`).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests import canary

TD = [sys.executable, "-m", "titan_deploy"]
LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Stack:
    root: Path
    name: str
    image: str
    # not in repr(): pytest prints a failed assert's call arguments (`refusals(stack) == 0`)
    values: dict[str, bytes] = field(default_factory=dict, repr=False)
    outputs: list[str] = field(default_factory=list)

    def td_argv(self) -> list[str]:
        return [*TD, "-C", str(self.root), "-p", self.name]

    def td(self, *args: str, env: dict[str, str] | None = None, timeout: int = 300) -> Result:
        argv = [*self.td_argv(), *args]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )
        result = Result(argv, done.returncode, done.stdout, done.stderr)
        self.outputs.append(result.output)
        return result

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "--project-directory", str(self.root), "-p", self.name]
        for file in ("docker-compose.yml", "docker-compose.secrets.yml"):
            if (self.root / file).exists():
                argv += ["-f", str(self.root / file)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, check=False)

    def down(self) -> None:
        # every profile: a service only an enabled profile started is stopped too
        self.compose("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "2")

    def edit_compose(self, fn) -> None:
        path = self.root / "docker-compose.yml"
        doc = yaml.safe_load(path.read_text())
        fn(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def secret_path(self, name: str) -> Path:
        return self.root / "secrets" / name


def assert_no_canary(stack, extra: str = "") -> None:
    """Nothing the tool printed for `stack` (nor `extra`) betrays one of its values, in any form
    or 12-character piece (tests/canary.py). `stack` has `values` (name -> bytes) and `outputs`."""
    canary.assert_no_canary(stack.values, [*stack.outputs, extra])


def make_stack(
    tmp: Path, image: str, *, gid: int | None = 10500, reader_user: str = "1000"
) -> Stack:
    """Two services: `signer` (root) reads api_token and db_password; `reader` (uid 1000) reads
    db_password. With `gid` the manifest names a secrets_gid; without, files are 0600 root."""
    name = f"tdtest-{uuid.uuid4().hex[:10]}"
    root = tmp / name
    root.mkdir()
    manifest = {
        "version": 1,
        "compose_files": ["docker-compose.yml"],
        "secrets": {
            "db_password": {
                "kind": "password",
                "min_length": 24,
                "generate": True,
                "rotation": "rolling",
                "consumers": {"signer": "DB_PASSWORD_FILE", "reader": "DB_PASSWORD_FILE"},
            },
            "api_token": {
                "kind": "token",
                "generate": True,
                "consumers": {"signer": "API_TOKEN_FILE"},
            },
        },
    }
    if gid is not None:
        manifest["secrets_gid"] = gid
    (root / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    service = {
        "image": image,
        "command": ["sh", "-c", LOOP],
        "pull_policy": "never",
        "labels": {"org.titan-deploy.test": "1"},
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
    }
    compose = {
        "services": {
            "signer": dict(service),
            "reader": {**service, "user": reader_user},
        }
    }
    (root / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    stack = Stack(root=root, name=name, image=image)
    init = stack.td("init")
    assert init.returncode == 0, init.output
    for secret in ("db_password", "api_token"):
        value = secrets.token_urlsafe(32).encode()
        stack.secret_path(secret).write_bytes(value)
        stack.values[secret] = value
    return stack
