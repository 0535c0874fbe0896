"""The demo HMAC listener (demo/standin/listener.py): only a signature that matches no key counts
as an auth failure; a request torn by a sender stopped mid-write is not a message at all.

The rotation tests assert zero auth failures while titan-brain is recreated. urllib sends the
headers and the body in two writes, so a brain stopped between them left a torn request that the
listener counted as a bad signature: a flaky '+1' in CI that was no rotation fault.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request

import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO / "demo"))

from standin import common, listener

KEY = "k" * 64


@pytest.fixture
def served(monkeypatch):
    monkeypatch.setenv("TITAN_HMAC_SECRET_PRIMARY", KEY)
    monkeypatch.delenv("TITAN_HMAC_SECRET_SECONDARY", raising=False)
    metrics = common.Metrics()
    app = common.App("titan-execution", metrics, healthy=lambda: True)
    listener.Listener(metrics).install(app)
    server = common.serve(app, 0, background=True)
    try:
        yield metrics, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def post(port: int, body: bytes) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/signed", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def message(key: str) -> bytes:
    fields = ("k1", 1, 1.5, "{}")
    sig = common.sign(key, *fields)
    return json.dumps({"key_id": "k1", "seq": 1, "ts": 1.5, "payload": "{}", "sig": sig}).encode()


def test_a_torn_request_is_not_an_auth_failure(served):
    metrics, port = served
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b'POST /signed HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{"key')
    time.sleep(0.3)  # the server sees EOF before the promised 200 bytes
    assert post(port, message(KEY)) == 200  # still serving
    assert metrics.get("auth_failures_total") == 0
    assert metrics.get("messages_accepted_total") == 1


def test_a_wrong_key_is_an_auth_failure(served):
    metrics, port = served
    assert post(port, message("x" * 64)) == 401
    assert metrics.get("auth_failures_total") == 1
