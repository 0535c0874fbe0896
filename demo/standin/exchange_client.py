"""Exchange connection of the consumers of exchange keys (execution, sentinel, scavenger, ai-quant).

For each exchange whose API key AND secret are loaded, POST ``<URL>/v1/connect`` with
{exchange, api_key, api_secret}. On success it logs exactly ``Exchange connected (binance)``
(the manifest's verify_log); on refusal ``Exchange auth failed (binance): key not registered``
and it retries every 2 s, for a bounded time. The service stays up and healthy either way.

``python3 -m standin test-order EXCHANGE`` (the manifest's `probe:`, run by `docker exec` inside
a consumer after its restart): reads the key pair from the same ``*_FILE`` files the service
reads and sends one lab-mode minimum-size test order; exit 0 when the exchange accepts it, 1 with
one line naming the reason (never a value) otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

from .common import Metrics, http_open, log

EXCHANGES = {
    "binance": ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BINANCE_API_URL"),
    "bybit": ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_API_URL"),
}
RETRY_INTERVAL_S = float(os.environ.get("TITAN_EXCHANGE_RETRY_INTERVAL_S", "2"))
RETRY_FOR_S = float(os.environ.get("TITAN_EXCHANGE_RETRY_FOR_S", "600"))


class ExchangeConnector:
    def __init__(self, exchange: str, url: str, key: str, secret: str, metrics: Metrics) -> None:
        self.exchange = exchange
        self.url = url.rstrip("/")
        self._key = key
        self._secret = secret
        self.metrics = metrics
        metrics.gauge(
            "exchange_connected", "1 once the exchange accepted the key", 0, exchange=exchange
        )
        metrics.counter(
            "exchange_connect_attempts_total", "Exchange connection attempts", exchange=exchange
        )
        metrics.counter(
            "exchange_auth_failures_total", "Exchange refused the API key", exchange=exchange
        )

    def attempt(self) -> tuple[str, str]:
        """('connected'|'refused'|'error', detail)."""
        body = json.dumps(
            {"exchange": self.exchange, "api_key": self._key, "api_secret": self._secret}
        ).encode()
        req = urllib.request.Request(
            f"{self.url}/v1/connect",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with http_open(req, 5) as resp:
                resp.read()
                return "connected", ""
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8")).get("error", "")
            except (ValueError, AttributeError, OSError):
                detail = ""
            if exc.code in (401, 403):
                return "refused", detail or "key not registered"
            return "error", f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return "error", f"unreachable: {getattr(exc, 'reason', exc)}"

    def run(self) -> None:
        start = time.monotonic()
        last = ""
        refusals = 0
        while True:
            self.metrics.inc("exchange_connect_attempts_total", exchange=self.exchange)
            outcome, detail = self.attempt()
            if outcome == "connected":
                self.metrics.set("exchange_connected", 1, exchange=self.exchange)
                log.info("Exchange connected (%s)", self.exchange)
                return
            if outcome == "refused":
                self.metrics.inc("exchange_auth_failures_total", exchange=self.exchange)
                refusals += 1
                if refusals <= 5 or refusals % 15 == 0:  # then about every 30 s
                    log.warning("Exchange auth failed (%s): %s", self.exchange, detail)
            elif detail != last:
                log.warning("Exchange %s not reachable yet (%s); retrying", self.exchange, detail)
            last = detail
            if time.monotonic() - start > RETRY_FOR_S:
                log.error(
                    "Exchange %s: giving up after %d s (service stays up)",
                    self.exchange,
                    RETRY_FOR_S,
                )
                return
            time.sleep(RETRY_INTERVAL_S)


def start_exchange_connections(metrics: Metrics) -> None:
    for exchange, (key_var, secret_var, url_var) in EXCHANGES.items():
        key, secret = os.environ.get(key_var), os.environ.get(secret_var)
        if not key and not secret:
            log.info("Exchange %s: no API key loaded; not connecting", exchange)
            continue
        if not (key and secret):
            missing = secret_var if key else key_var
            log.warning("Exchange %s: %s is not set; not connecting", exchange, missing)
            continue
        url = os.environ.get(url_var)
        if not url:
            log.warning("Exchange %s: %s is not set; not connecting", exchange, url_var)
            continue
        connector = ExchangeConnector(exchange, url, key, secret, metrics)
        threading.Thread(target=connector.run, name=f"exchange-{exchange}", daemon=True).start()


MIN_QUANTITY = "0.0001"  # the demo exchange's lab-mode minimum order size


def test_order(exchange: str) -> tuple[bool, str]:
    """(accepted, reason) of one lab-mode minimum-size test order with the loaded key pair."""
    key_var, secret_var, url_var = EXCHANGES[exchange]
    key, secret, url = (os.environ.get(v, "") for v in (key_var, secret_var, url_var))
    if not (key and secret and url):
        missing = [v for v, x in ((key_var, key), (secret_var, secret), (url_var, url)) if not x]
        return False, f"{', '.join(missing)} not set"
    order = {
        "exchange": exchange,
        "api_key": key,
        "api_secret": secret,
        "symbol": "BTCUSDT",
        "side": "buy",
        "quantity": MIN_QUANTITY,
    }
    req = urllib.request.Request(
        f"{url.rstrip('/')}/v1/order/test",
        data=json.dumps(order).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with http_open(req, 5) as resp:
            resp.read()
            return True, "test order accepted"
    except urllib.error.HTTPError as exc:
        try:
            detail = str(json.loads(exc.read().decode("utf-8")).get("error", ""))
        except (ValueError, AttributeError, OSError):
            detail = ""
        return False, f"HTTP {exc.code} {detail}".strip()
    except (urllib.error.URLError, OSError) as exc:
        return False, f"unreachable: {getattr(exc, 'reason', exc)}"


def test_order_main(argv: list[str]) -> int:
    """`test-order EXCHANGE`: 0 when a lab-mode test order is accepted, 1 otherwise, 2 usage."""
    from .common import SecretError, load_secret_files

    if len(argv) != 1 or argv[0] not in EXCHANGES:
        print(f"usage: python3 -m standin test-order {{{','.join(EXCHANGES)}}}", file=sys.stderr)
        return 2
    try:
        load_secret_files()
    except SecretError as exc:
        print(f"test order ({argv[0]}): {exc}", file=sys.stderr)
        return 1
    ok, reason = test_order(argv[0])
    print(f"test order ({argv[0]}): {reason}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
