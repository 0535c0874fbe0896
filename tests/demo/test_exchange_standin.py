"""The demo exchange's lab-mode test order and the consumers' `test-order` probe (demo/standin):
accepted only for a registered pair with the trade permission, at the minimum size."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

sys.path.insert(0, str(REPO / "demo"))

from register_exchange_key import update
from standin import common, demo_exchange, exchange_client


@pytest.fixture
def exchange(tmp_path: Path):
    registry = tmp_path / "registry"
    app = demo_exchange.build_app(str(registry / demo_exchange.REGISTRY_NAME))
    server = common.serve(app, 0, background=True)
    try:
        yield registry, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pair() -> tuple[str, str]:
    return secrets.token_hex(32), secrets.token_hex(32)


def order(app_url: str, key: str, secret: str, monkeypatch) -> tuple[bool, str]:
    monkeypatch.setenv("BINANCE_API_KEY", key)
    monkeypatch.setenv("BINANCE_API_SECRET", secret)
    monkeypatch.setenv("BINANCE_API_URL", app_url)
    return exchange_client.test_order("binance")


def test_a_test_order_is_accepted_only_with_a_registered_trading_key(exchange, monkeypatch):
    registry, url = exchange
    key, secret = pair()
    assert order(url, key, secret, monkeypatch) == (False, "HTTP 401 key not registered")
    update(str(registry), "binance", key, secret, read_only=True)
    assert order(url, key, secret, monkeypatch) == (False, "HTTP 403 key has no trade permission")
    update(str(registry), "binance", key, secret)  # registered again, with trading
    entries = json.loads((registry / "exchange_keys.json").read_text())["binance"]
    assert len(entries) == 1 and "trade" not in entries[0]
    assert order(url, key, secret, monkeypatch) == (True, "test order accepted")
    other_key, _ = pair()
    assert order(url, other_key, secret, monkeypatch)[0] is False


def test_only_the_minimum_size_is_taken(exchange):
    registry, _ = exchange
    key, secret = pair()
    update(str(registry), "binance", key, secret)
    app = demo_exchange.build_app(str(registry / demo_exchange.REGISTRY_NAME))
    body = {"exchange": "binance", "api_key": key, "api_secret": secret, "quantity": "1"}
    status, _, text = app.handle("POST", "/v1/order/test", json.dumps(body).encode())
    assert status == 400 and "minimum size" in text
    body["quantity"] = demo_exchange.MIN_QUANTITY
    assert app.handle("POST", "/v1/order/test", json.dumps(body).encode())[0] == 200


def test_the_probe_command_reads_the_files_and_never_prints_a_value(
    exchange, tmp_path, monkeypatch, capsys
):
    registry, url = exchange
    key, secret = pair()
    for name, value in (("k", key), ("s", secret)):
        (tmp_path / name).write_text(value + "\n")
    container_env = {
        "BINANCE_API_KEY_FILE": str(tmp_path / "k"),
        "BINANCE_API_SECRET_FILE": str(tmp_path / "s"),
        "BINANCE_API_URL": url,
    }
    # a fresh process each time, as `docker exec` starts one: only the container's env
    monkeypatch.setattr(os, "environ", dict(container_env))
    assert exchange_client.test_order_main(["binance"]) == 1
    update(str(registry), "binance", key, secret)
    monkeypatch.setattr(os, "environ", dict(container_env))
    assert exchange_client.test_order_main(["binance"]) == 0
    assert exchange_client.test_order_main(["kraken"]) == 2
    out = capsys.readouterr()
    assert "test order (binance): test order accepted" in out.out
    assert key not in out.out + out.err and secret not in out.out + out.err


def test_connect_answers_by_the_registry(exchange) -> None:
    """/v1/connect parses the request like the test order (`_credentials`): bad JSON 400, an
    unknown exchange 404, an unregistered pair 401, a registered one 200."""
    import urllib.error
    import urllib.request

    registry, url = exchange
    key, secret = pair()

    def connect(body: bytes) -> int:
        request = urllib.request.Request(f"{url}/v1/connect", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    doc = {"exchange": "binance", "api_key": key, "api_secret": secret}
    assert connect(b"not json") == 400
    assert connect(json.dumps({**doc, "exchange": "nowhere"}).encode()) == 404
    assert connect(json.dumps(doc).encode()) == 401
    update(str(registry), "binance", key, secret)
    assert connect(json.dumps(doc).encode()) == 200
