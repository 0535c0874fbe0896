"""io/enginehttp.py: verify's inspect over the engine's unix socket, without requests (issue
15). A small HTTP server on a unix socket stands in for the engine."""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from titan_deploy.errors import EngineUnreachable, RuntimeFailure
from titan_deploy.io.enginehttp import LocalAPI, local_api


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path: Path, close_after: int | None = None):
    """A fake engine: /v1.41/containers/<id>/json answers {"Id": id}; anything else 404 with
    the engine's JSON message. Counts the connections it accepted."""
    seen = {"connections": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            seen["connections"] += 1
            super().setup()

        def address_string(self) -> str:
            return "unix"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            seen["requests"] += 1
            parts = self.path.split("/")
            if len(parts) == 5 and parts[2] == "containers" and parts[4] == "json":
                status, doc = 200, {"Id": parts[3]}
            else:
                status, doc = 404, {"message": "No such container: x\nsecond line"}
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if close_after is not None and seen["requests"] >= close_after:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    server = _Server(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def sock():
    # a short path: a unix socket's path is limited to 107 bytes (pytest's tmp_path may not be)
    with tempfile.TemporaryDirectory(prefix="td-sock-", dir="/tmp") as tmp:
        yield Path(tmp) / "s"


def test_get_json_keeps_one_connection_alive(sock) -> None:
    server, seen = serve(sock)
    try:
        api = LocalAPI(str(sock), timeout=5)
        for n in range(5):
            assert api.get_json("inspect", f"/v1.41/containers/c{n}/json") == {"Id": f"c{n}"}
        assert seen == {"connections": 1, "requests": 5}
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_is_the_engines_first_line(sock) -> None:
    server, _ = serve(sock)
    try:
        with pytest.raises(RuntimeFailure, match=r"^cannot inspect: No such container: x$"):
            LocalAPI(str(sock), timeout=5).get_json("inspect", "/v1.41/nothing")
    finally:
        server.shutdown()
        server.server_close()


def test_a_connection_the_engine_closed_is_replaced(sock) -> None:
    server, seen = serve(sock, close_after=1)
    try:
        api = LocalAPI(str(sock), timeout=5)
        assert api.get_json("inspect", "/v1.41/containers/a/json") == {"Id": "a"}
        assert api.get_json("inspect", "/v1.41/containers/b/json") == {"Id": "b"}
        assert seen["connections"] == 2
    finally:
        server.shutdown()
        server.server_close()


def test_no_engine_is_unreachable(sock) -> None:
    with pytest.raises(EngineUnreachable, match="cannot inspect: the Docker engine is unreachable"):
        LocalAPI(str(sock), timeout=5).get_json("inspect", "/v1.41/containers/a/json")


def test_only_a_unix_socket_client_gets_the_lean_path() -> None:
    class Adapter:
        socket_path = "/var/run/docker.sock"

    class Api:
        timeout = 60

        def __init__(self, base_url: str) -> None:
            self.base_url = base_url

        def get_adapter(self, url: str):
            if url != "http+docker://localhost":
                raise ValueError(url)
            return Adapter()

    class Client:
        def __init__(self, base_url: str) -> None:
            self.api = Api(base_url)

    found = local_api(Client("http+docker://localhost"))
    assert found is not None and found.socket_path == "/var/run/docker.sock"
    assert local_api(Client("https://10.0.0.5:2376")) is None
    assert local_api(Client("http+docker://ssh")) is None
    assert local_api(object()) is None
