"""Helpers of the `rotate nats` engine tests (tests/integration/test_rotation_nats*.py): the
stand-in image pinned per stack, nats-server's refused logins, every client's failed NATS
connects/publishes/logins, the credential the journal assigns, a fresh login.

Failures are counted where they happen: nats-server logs every refused login ("authentication
error"; the client gets "Authorization Violation"), and it runs through the whole rotation (same
container); each stand-in counts its failed connects, publishes and refused logins
(demo/standin/nats_client.py), read from every client container (a container is replaced only by
a step, so a test reads each before it goes and after it comes)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.integration.rotation_kit import docker_client, journal, scrape
from tests.integration.test_demo_nats import LOGIN
from tests.poll import wait_until

CRASH = "TITAN_DEPLOY_CRASH_AFTER_STEP"
FAST = ["--stop-timeout", "1", "--settle", "1"]
CLEANUP = ("sync-base", "remove-versions")  # past the point of no return
REFUSED = "authentication error"
FAILED = ("nats_connect_failures", "nats_publish_failures", "nats_auth_failures")
STANDIN = "titan-demo/standin:latest"


def pin_standin(stack, compose: Path) -> str:
    """Run `stack` on the stand-in image of THESE sources under a tag of its own, written into
    the stack's copy of `compose` (a compose file naming STANDIN): a rotation recreates clients
    minutes after `up`, and another test session on the machine (other sources) may retag
    STANDIN in between (scripts/build-demo-images.sh), which would give the recreated clients
    other code than the server and the first ones. Rebuilt (bounded) when STANDIN does not hold
    these sources' stand-in files. Returns the tag (the caller removes it)."""
    from tests.integration.demo import build_demo_images
    from tests.paths import REPO

    client = docker_client()
    want = sorted(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(REPO / 'demo')}"
        for p in (REPO / "demo" / "standin").rglob("*.py")
    )
    for _ in range(3):
        image = client.images.get(STANDIN)
        listing = client.containers.run(
            image.id,
            ["-c", "cd /opt/titan-demo && find standin -name '*.py' | xargs sha256sum"],
            entrypoint="sh",
            remove=True,
        )
        if sorted(listing.decode().splitlines()) == want:
            break
        build_demo_images()
    else:
        pytest.fail(f"{STANDIN} keeps holding other stand-in sources")
    tag = f"titan-demo/standin:{stack.name}"
    image.tag(tag)
    compose.write_text(compose.read_text().replace(STANDIN, tag))
    return tag


def assert_no_secret(stack, texts: list[str]) -> None:
    """No value of a secret in `texts`: `nats_user` is configuration (`sensitive: false`), which
    nats-server logs when it refuses a login (a control run makes it refuse)."""
    from tests import canary

    public = ("nats_user", "nats_auth_conf")  # the config's text holds the user name too
    values = {k: v for k, v in stack.values.items() if not k.startswith(public)}
    canary.assert_no_canary(values, texts)


def containers(stack, service: str):
    return docker_client().containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={stack.name}",
                f"com.docker.compose.service={service}",
            ]
        }
    )


def server(stack):
    (found,) = containers(stack, "nats")
    return found


def refusals(stack) -> int:
    """Logins nats-server refused since it started."""
    return server(stack).logs().decode("utf-8", "replace").count(REFUSED)


def failures(
    stack, clients: Mapping[str, int], seen: dict[str, float] | None = None
) -> dict[str, float]:
    """Container id -> its failed NATS connects + publishes + refused logins, for every running
    container of `clients` (service -> its metrics port); merged into `seen` (the highest value
    read per container: a replaced container keeps its last reading)."""
    out = {} if seen is None else seen
    for service, port in clients.items():
        for c in containers(stack, service):
            m = scrape(c, f"http://127.0.0.1:{port}/metrics")
            out[c.id] = max(out.get(c.id, 0.0), sum(m.get(name, 0) for name in FAILED))
    return out


def publishing(stack, clients: Mapping[str, int], at_least: int = 2) -> None:
    """Every client connected and publishing: `at_least` publishes the server confirmed (after
    a restart: its first heartbeats)."""
    for service, port in clients.items():
        wait_until(
            lambda s=service, p=port: all(
                scrape(c, f"http://127.0.0.1:{p}/metrics").get("nats_publishes", 0) >= at_least
                for c in containers(stack, s)
            ),
            f"{service} publishes",
            timeout=90,
        )


def creds(stack, client: str) -> tuple[bytes, bytes]:
    """The (user, password) the journal assigns `client` now, read from their files."""
    assigned = journal(stack).get("assignments") or {}
    out = []
    for name in ("nats_user", "nats_password"):
        version = (assigned.get(name, {}).get(client) or {}).get("version")
        path = stack.root / "secrets" / (name if version is None else f"{name}.v{version}")
        out.append(path.read_bytes().strip())
    return out[0], out[1]


def login(stack, user: bytes, password: bytes, via: str) -> str:
    """A NEW NATS connection from `via`'s container (a stand-in; script and credential on
    stdin, never argv or env): ACCEPTED, or the client's error (`connect refused: Authorization
    Violation`)."""
    from titan_deploy.io import engine as engine_io

    (found,) = containers(stack, via)
    line = user + b" " + password + b"\n"
    result = engine_io.connect().exec(found.id, ["python3", "-c", LOGIN], stdin=line, timeout=30)
    return result.stdout.decode().strip()
