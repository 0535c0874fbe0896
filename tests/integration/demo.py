"""The demo stack as a test fixture: the project's real prod file, rendered overlay and demo
override, deployed by `titan-deploy up` under a random project name from a temp copy of the
project (its own secrets, its own demo-exchange registry). Cleanup: `down --volumes` of that
project only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from tests.integration.stackkit import Stack
from tests.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
COPY = [
    "secrets.manifest.yml",
    "docker-compose.prod.yml",
    "docker-compose.secrets.yml",
    "secrets.example",
    "demo",
    "templates",  # config templates (templates/redis.conf.j2: README "Config files")
]
DEMO_FILES = ["docker-compose.prod.yml", "demo/docker-compose.demo.yml"]


def build_demo_images() -> None:
    subprocess.run(["bash", str(REPO / "scripts/build-demo-images.sh")], check=True)


class DemoStack(Stack):
    """A Stack whose td() always names the demo files."""

    def td_argv(self) -> list[str]:
        return [*super().td_argv(), *(x for f in DEMO_FILES for x in ("-f", f))]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "--project-directory", str(self.root), "-p", self.name]
        for file in [*DEMO_FILES, "docker-compose.secrets.yml"]:
            argv += ["-f", str(self.root / file)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, check=False)

    def load_values(self) -> None:
        for path in sorted((self.root / "secrets").iterdir()):
            if path.is_file():
                self.values[path.name] = path.read_bytes().strip()


def make_demo(tmp: Path) -> DemoStack:
    name = f"tdtest-demo-{uuid.uuid4().hex[:8]}"
    root = tmp / name
    root.mkdir()
    for item in COPY:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, root / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / item)
    stack = DemoStack(root=root, name=name, image="titan-demo/standin:latest")
    assert stack.td("init").returncode == 0
    subprocess.run(
        [
            sys.executable,
            str(root / "demo/gen_exchange_keys.py"),
            str(root / "secrets"),
            "--registry",
            str(root / ".titan-deploy/demo"),
        ],
        check=True,
        capture_output=True,
    )
    stack.load_values()
    return stack


def wait_healthy(stack: Stack, timeout: float = 180) -> None:
    """Poll until every running container of `stack` with a healthcheck is healthy, as `up
    --wait` left it (a session-wide stack: an earlier module may have recreated a service, or
    a loaded machine made a healthcheck fail for a while). Fails the test after `timeout` s."""
    import docker

    client = docker.from_env(timeout=60)

    def healthy() -> bool:
        found = client.containers.list(
            filters={"label": f"com.docker.compose.project={stack.name}"}
        )
        states = [c.attrs["State"].get("Health", {}).get("Status", "healthy") for c in found]
        return bool(found) and all(state == "healthy" for state in states)

    wait_until(healthy, f"every container of {stack.name} healthy", timeout, interval=0.5)
