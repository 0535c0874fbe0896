"""The demo's nats is the REAL nats-server with authentication (issue 12): its users come from
the config `nats_auth_conf` rendered from templates/nats_auth.conf.j2 (mounted at
/run/secrets/nats_auth.conf), and every Titan stand-in connects as the user and with the password
it reads from NATS_USER_FILE and NATS_PASSWORD_FILE, publishing heartbeats with no failure. A
wrong password is refused; no password is on any process's argv."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.rotation_kit import docker_client, scrape
from tests.poll import wait_until

pytestmark = pytest.mark.docker

PORTS = {
    "titan-brain": 3100,
    "titan-execution": 3002,
    "titan-sentinel": 8084,
    "titan-scavenger": 8081,
    "titan-hunter": 8083,
    "titan-ai-quant": 8082,
}


def container(stack, service: str):
    (found,) = docker_client().containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={stack.name}",
                f"com.docker.compose.service={service}",
            ]
        }
    )
    return found


def nats_metrics(stack, service: str) -> dict[str, float]:
    url = f"http://127.0.0.1:{PORTS[service]}/metrics"
    return {k: v for k, v in scrape(container(stack, service), url).items() if "nats" in k}


def test_nats_is_the_real_server_and_every_service_publishes_without_failure(demo):
    nats = container(demo, "nats")
    _, argv = nats.exec_run(["cat", "/proc/1/cmdline"])
    assert argv.split(b"\0")[:3] == [b"nats-server", b"-c", b"/etc/nats/nats.conf"]
    for service in PORTS:
        metrics = wait_until(
            lambda s=service: (m := nats_metrics(demo, s)).get("nats_publishes", 0) >= 3 and m,
            f"{service} publishes to nats",
            timeout=90,
        )
        assert metrics.get("nats_connected") == 1, service
        assert metrics.get("nats_connect_failures", 0) == 0, (service, metrics)
        assert metrics.get("nats_publish_failures", 0) == 0, (service, metrics)
    password = demo.values["nats_password"]
    for pid_argv in _all_argv(demo):
        assert password not in pid_argv


LOGIN = (
    "import sys\n"
    "from standin.nats_client import NatsConnection, NatsError\n"
    "user, password = sys.stdin.readline().split()\n"
    "c = NatsConnection('nats', 4222, user, password, 'probe')\n"
    "try:\n"
    "    c.connect()\n"
    "    print('ACCEPTED')\n"
    "except NatsError as exc:\n"
    "    print(exc)\n"
)


def login(stack, user: bytes, password: bytes) -> str:
    """A NEW NATS connection from brain's container (script and credential on stdin, never
    argv or env): ACCEPTED, or the client's error (`connect refused: Authorization
    Violation`)."""
    from titan_deploy.io import engine as engine_io

    brain = container(stack, "titan-brain")
    line = user + b" " + password + b"\n"
    result = engine_io.connect().exec(brain.id, ["python3", "-c", LOGIN], stdin=line, timeout=30)
    return result.stdout.decode().strip()


def test_a_wrong_password_is_refused_by_the_server(demo):
    user = demo.values["nats_user"]
    wrong = secrets.token_hex(16).encode()
    assert login(demo, user, wrong) == "connect refused: Authorization Violation"
    assert login(demo, user, demo.values["nats_password"]) == "ACCEPTED"


def _all_argv(stack) -> list[bytes]:
    out = []
    for service in ("nats", *PORTS):
        _, text = container(stack, service).exec_run(
            ["sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null"]
        )
        out.append(text)
    return out
