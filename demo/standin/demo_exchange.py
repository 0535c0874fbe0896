"""demo-exchange: stands in for the Binance and Bybit APIs (the demo never leaves the machine).

POST /v1/connect {exchange, api_key, api_secret} -> 200 when sha256(api_key) and
sha256(api_secret) are registered for that exchange, else 401 {"error": "key not registered"}.
The registry (REGISTRY_FILE) holds ONLY sha256 hex digests:
    {"binance": [{"key_sha256": "...", "secret_sha256": "..."}], "bybit": [...]}
It is re-read on every request, so registering a key needs no restart. Keys are never logged.
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


def is_registered(
    registry: dict[str, list[dict[str, str]]], exchange: str, key: str, secret: str
) -> bool:
    key_d, secret_d = digest(key), digest(secret)
    found = False
    for entry in registry.get(exchange, []):
        k = hmac.compare_digest(str(entry.get("key_sha256", "")), key_d)
        s = hmac.compare_digest(str(entry.get("secret_sha256", "")), secret_d)
        found = found or (k and s)
    return found


def main() -> None:
    path = os.path.join(REGISTRY_DIR, REGISTRY_NAME)
    metrics = Metrics()
    for exchange in EXCHANGES:
        metrics.counter(
            "connects_accepted_total", "Connections with a registered key", exchange=exchange
        )
        metrics.counter(
            "connects_refused_total", "Connections with an unknown key", exchange=exchange
        )
    app = App("demo-exchange", metrics, healthy=lambda: True)

    @app.route("POST", "/v1/connect")
    def connect(req: Request) -> tuple[int, str, str]:
        try:
            body = req.json()
            exchange = str(body["exchange"])
            key, secret = str(body["api_key"]), str(body["api_secret"])
        except (ValueError, KeyError, TypeError):
            return json_response(400, {"error": "expected JSON {exchange, api_key, api_secret}"})
        if exchange not in EXCHANGES:
            return json_response(404, {"error": f"unknown exchange {exchange}"})
        try:
            registry = load_registry(path)
        except (OSError, ValueError) as exc:
            log.error("cannot read the key registry %s: %s", path, exc)
            return json_response(503, {"error": "key registry unreadable"})
        if is_registered(registry, exchange, key, secret):
            metrics.inc("connects_accepted_total", exchange=exchange)
            log.info("connect accepted (%s)", exchange)
            return json_response(200, {"ok": True, "exchange": exchange})
        metrics.inc("connects_refused_total", exchange=exchange)
        log.warning("connect refused (%s): key not registered", exchange)
        return json_response(401, {"error": "key not registered"})

    if os.path.exists(path):
        log.info("key registry: %s", path)
    else:
        log.warning("key registry %s does not exist yet: every key is refused", path)
    common.serve(app, common.port_from_env(8090))
