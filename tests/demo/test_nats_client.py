"""The stand-ins' NATS client (demo/standin/nats_client.py) against a REAL nats-server started on
127.0.0.1 with a random port and users from an included auth file, as the demo runs it: accepted
and refused connections, confirmed publishes, and the counters a rotation is judged by when the
server's users change under a reload (old and new accepted, then the old removed)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require
from tests.paths import REPO
from tests.poll import wait_until

sys.path.insert(0, str(REPO / "demo"))

from standin.common import Metrics
from standin.nats_client import NatsConnection, NatsError, NatsPublisher


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, users: dict[str, str]) -> None:
        self.dir = tmp
        (tmp / "etc").mkdir()
        (tmp / "run").mkdir()
        self.port = free_port()
        self.write_users(users)
        conf = tmp / "etc" / "nats.conf"
        # as demo/nats/nats.conf: the include is relative to the config file's directory
        conf.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            'authorization {\n  include "../run/nats_auth.conf"\n}\n'
        )
        self.log = open(tmp / "nats.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["nats-server", "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_until(self.answers, "nats-server listening", timeout=30)

    def write_users(self, users: dict[str, str]) -> None:
        entries = ",\n".join(f'  {{user: "{u}", pass: "{p}"}}' for u, p in users.items())
        path = self.dir / "run" / "nats_auth.conf"
        path.write_text(f"users = [\n{entries}\n]\n")
        os.chmod(path, 0o600)

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)  # what `nats-server --signal reload` sends

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def server(tmp_path):
    require(shutil.which("nats-server") is not None, "nats-server (apt-get install nats-server)")
    old = secrets.token_hex(16)
    srv = Server(tmp_path, {"titan": old})
    srv.passwords = {"titan": old}
    yield srv
    srv.stop()


def connection(server: Server, user: str, password: str) -> NatsConnection:
    return NatsConnection("127.0.0.1", server.port, user, password, "test")


def test_connect_publish_subscribe_with_the_right_password(server):
    password = server.passwords["titan"]
    sub = connection(server, "titan", password)
    sub.connect()
    sub.subscribe("titan.heartbeat.x", "1")
    pub = connection(server, "titan", password)
    pub.connect()
    pub.publish("titan.heartbeat.x", b'{"seq": 1}')
    assert sub.next_message() == ("titan.heartbeat.x", b'{"seq": 1}')
    pub.close()
    sub.close()


def test_a_wrong_password_is_refused_and_never_echoed(server):
    wrong = secrets.token_hex(16)
    with pytest.raises(NatsError) as info:
        connection(server, "titan", wrong).connect()
    assert str(info.value) == "connect refused: Authorization Violation"
    assert wrong not in str(info.value)


def test_counters_through_an_overlap_then_the_old_user_removed(server):
    """Old and new accepted during the transition (zero failures for either); once the old is
    removed by a reload, a publisher still on it counts its failures."""
    metrics = Metrics()
    old = NatsPublisher(
        f"nats://127.0.0.1:{server.port}", "titan", server.passwords["titan"], "svc", metrics
    )
    conn = old.connect()
    assert conn is not None and old.publish_once(conn, 1)
    new_password = secrets.token_hex(16)
    server.write_users({"titan": server.passwords["titan"], "titan_next": new_password})
    server.reload()
    new_metrics = Metrics()
    new = NatsPublisher(
        f"nats://127.0.0.1:{server.port}", "titan_next", new_password, "svc", new_metrics
    )
    fresh = wait_until(new.connect, "the reloaded server accepts the new user", timeout=30)
    # attempts made before the reload took effect were refused, and counted; none after
    refused_before_reload = new_metrics.get("nats_auth_failures_total")
    assert new.publish_once(fresh, 1) and old.publish_once(conn, 2)  # both accepted
    assert metrics.get("nats_publish_failures_total") == 0
    assert metrics.get("nats_connect_failures_total") == 0
    server.write_users({"titan_next": new_password})
    server.reload()
    wait_until(lambda: not old.publish_once(conn, 3), "the old user is dropped", timeout=30)
    assert metrics.get("nats_publish_failures_total") == 1
    assert old.connect() is None and metrics.get("nats_connect_failures_total") == 1
    # the refused login is an auth failure (the guard's counter); the dropped publish counts
    # too when the server said why (Authorization Violation), not when it only closed
    assert metrics.get("nats_auth_failures_total") in (1, 2)
    assert new_metrics.get("nats_auth_failures_total") == refused_before_reload
    assert new.publish_once(fresh, 2) and new_metrics.get("nats_publish_failures_total") == 0
    text = metrics.render()
    assert "nats_publish_failures_total 1" in text and new_password not in text
    fresh.close()


def test_the_demo_users_line_is_what_nats_server_accepts(server):
    """templates/nats_auth.conf.j2 rendered as `configs: nats_auth_conf` renders it, included as
    the demo includes it, admits exactly that user and password."""
    from titan_deploy.core.configs import render

    password = secrets.token_hex(16)
    template = "templates/nats_auth.conf.j2"
    values = {"nats_user": b"titan", "nats_password": password.encode()}
    rendered = render(template, (REPO / template).read_text(), values)
    (server.dir / "run" / "nats_auth.conf").write_bytes(rendered)
    server.reload()
    conn = wait_until(
        lambda: _connected(server, password), "the reloaded users line admits it", timeout=30
    )
    conn.close()
    with pytest.raises(NatsError):
        connection(server, "titan", server.passwords["titan"]).connect()


def _connected(server: Server, password: str) -> NatsConnection | None:
    conn = connection(server, "titan", password)
    try:
        conn.connect()
    except NatsError:
        return None
    return conn


def test_an_unreachable_server_is_a_connect_failure_not_an_auth_failure(server):
    """The guard's counter (nats_auth_failures_total) counts refused logins only: a server
    that does not answer is not an authentication problem."""
    metrics = Metrics()
    gone = NatsPublisher(f"nats://127.0.0.1:{free_port()}", "titan", "x", "svc", metrics)
    assert gone.connect() is None
    assert metrics.get("nats_connect_failures_total") == 1
    assert metrics.get("nats_auth_failures_total") == 0
    wrong = NatsPublisher(f"nats://127.0.0.1:{server.port}", "titan", "wrong", "svc", metrics)
    assert wrong.connect() is None
    assert metrics.get("nats_auth_failures_total") == 1
    assert "nats_auth_failures_total 1" in metrics.render()
