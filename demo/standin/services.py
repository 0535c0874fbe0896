"""The Titan services other than brain: listener and/or exchange consumer, or just /health."""

from __future__ import annotations

import threading

from . import common
from .common import App, Metrics, log
from .exchange_client import start_exchange_connections
from .listener import Listener
from .nats_client import start_nats

# role -> (default port, HMAC listener, exchange consumer)
SERVICES: dict[str, tuple[int, bool, bool]] = {
    "titan-execution": (3002, True, True),
    "titan-sentinel": (8084, True, True),
    "titan-scavenger": (8081, False, True),
    "titan-ai-quant": (8082, False, True),
    "titan-hunter": (8083, False, False),
    "titan-console": (8080, False, False),
}


def run(role: str) -> None:
    default_port, is_listener, is_exchange_consumer = SERVICES[role]
    loaded = common.load_secrets_or_exit()
    if is_listener:
        common.require("TITAN_HMAC_SECRET_PRIMARY")
    metrics = Metrics()
    metrics.gauge("titan_secrets_loaded", "Secrets loaded from *_FILE at startup", len(loaded))
    app = App(role, metrics, healthy=lambda: True)
    if is_listener:
        Listener(metrics).install(app)
    if is_exchange_consumer:
        start_exchange_connections(metrics)
    start_nats(role, metrics)
    server = common.serve(app, common.port_from_env(default_port), background=True)
    log.info("%s stand-in ready", role)
    threading.Event().wait()
    server.shutdown()
