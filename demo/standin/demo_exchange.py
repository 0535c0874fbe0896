"""demo-exchange: stands in for the Binance and Bybit APIs (the demo never leaves the machine).

POST /v1/connect {exchange, api_key, api_secret} -> 200 when sha256(api_key) and
sha256(api_secret) are registered for that exchange, else 401 {"error": "key not registered"}.
The registry (REGISTRY_FILE) holds ONLY sha256 hex digests:
    {"binance": [{"key_sha256": "...", "secret_sha256": "..."}], "bybit": [...]}
It is re-read on every request, so registering a key needs no restart. Keys are never logged.

POST /v1/order/test {exchange, api_key, api_secret, symbol, quantity} -> a lab-mode test order
of the minimum size (MIN_QUANTITY; nothing is ever executed): 200 only for a registered pair
whose entry allows trading (an entry with "trade": false is a read-only key, as an exchange key
created without the trade permission: it connects but its orders get 403); 401 for an
unregistered pair; 400 for another size. This is what `rotate exchange`'s `probe:` proves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from . import common
from .common import App, Metrics, Request, json_response, log

REGISTRY_DIR = os.environ.get("TITAN_DEMO_REGISTRY_DIR", "/registry")
REGISTRY_NAME = "exchange_keys.json"
EXCHANGES = ("binance", "bybit")
MIN_QUANTITY = "0.0001"  # the lab-mode minimum order size the test order must use


def load_registry(path: str) -> dict[str, list[dict[str, str]]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError("registry is not a JSON object")
    return data


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def find_entry(
    registry: dict[str, list[dict[str, str]]], exchange: str, key: str, secret: str
) -> dict | None:
    """The registry entry of this pair (every entry compared, in constant time), or None."""
    key_d, secret_d = digest(key), digest(secret)
    found = None
    for entry in registry.get(exchange, []):
        k = hmac.compare_digest(str(entry.get("key_sha256", "")), key_d)
        s = hmac.compare_digest(str(entry.get("secret_sha256", "")), secret_d)
        if k and s and found is None:
            found = entry
    return found


def _credentials(req: Request) -> tuple[str, str, str, dict] | tuple[int, str, str]:
    """(exchange, key, secret, body) of a request, or the error response."""
    try:
        body = req.json()
        exchange = str(body["exchange"])
        key, secret = str(body["api_key"]), str(body["api_secret"])
    except (ValueError, KeyError, TypeError):
        return json_response(400, {"error": "expected JSON {exchange, api_key, api_secret}"})
    if exchange not in EXCHANGES:
        return json_response(404, {"error": f"unknown exchange {exchange}"})
    return exchange, key, secret, body


def _lookup(req: Request, path: str) -> tuple[str, dict | None, dict] | tuple[int, str, str]:
    """(exchange, the registry entry of the request's pair or None, body) of a request, or the
    error response (its status first: an int)."""
    parsed = _credentials(req)
    if len(parsed) == 3:
        return parsed  # type: ignore[return-value]
    exchange, key, secret, body = parsed  # type: ignore[misc]
    try:
        return exchange, find_entry(load_registry(path), exchange, key, secret), body
    except (OSError, ValueError) as exc:
        log.error("cannot read the key registry %s: %s", path, exc)
        return json_response(503, {"error": "key registry unreadable"})


def main() -> None:
    path = os.path.join(REGISTRY_DIR, REGISTRY_NAME)
    app = build_app(path)
    if os.path.exists(path):
        log.info("key registry: %s", path)
    else:
        log.warning("key registry %s does not exist yet: every key is refused", path)
    common.serve(app, common.port_from_env(8090))


def build_app(path: str) -> App:
    """The exchange's routes over the registry file at `path` (re-read on every request)."""
    metrics = Metrics()
    for exchange in EXCHANGES:
        metrics.counter(
            "connects_accepted_total", "Connections with a registered key", exchange=exchange
        )
        metrics.counter(
            "connects_refused_total", "Connections with an unknown key", exchange=exchange
        )
        metrics.counter("test_orders_accepted_total", "Lab-mode test orders", exchange=exchange)
        metrics.counter("test_orders_refused_total", "Refused test orders", exchange=exchange)
    app = App("demo-exchange", metrics, healthy=lambda: True)

    @app.route("POST", "/v1/order/test")
    def test_order(req: Request) -> tuple[int, str, str]:
        found = _lookup(req, path)
        if isinstance(found[0], int):
            return found  # type: ignore[return-value]
        exchange, entry, body = found  # type: ignore[misc]
        if entry is None:
            status, error = 401, "key not registered"
        elif entry.get("trade") is False:
            status, error = 403, "key has no trade permission"
        elif str(body.get("quantity")) != MIN_QUANTITY:
            status, error = 400, f"lab mode takes only the minimum size {MIN_QUANTITY}"
        else:
            metrics.inc("test_orders_accepted_total", exchange=exchange)
            log.info("test order accepted (%s)", exchange)
            return json_response(200, {"ok": True, "exchange": exchange, "test": True})
        metrics.inc("test_orders_refused_total", exchange=exchange)
        log.warning("test order refused (%s): %s", exchange, error)
        return json_response(status, {"error": error})

    @app.route("POST", "/v1/connect")
    def connect(req: Request) -> tuple[int, str, str]:
        found = _lookup(req, path)
        if isinstance(found[0], int):
            return found  # type: ignore[return-value]
        exchange, entry, _ = found  # type: ignore[misc]
        if entry is not None:
            metrics.inc("connects_accepted_total", exchange=exchange)
            log.info("connect accepted (%s)", exchange)
            return json_response(200, {"ok": True, "exchange": exchange})
        metrics.inc("connects_refused_total", exchange=exchange)
        log.warning("connect refused (%s): key not registered", exchange)
        return json_response(401, {"error": "key not registered"})

    return app
