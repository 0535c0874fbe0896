"""titan-brain stand-in: the HMAC signer, and the one service that talks to PostgreSQL.

Every TITAN_SIGN_INTERVAL_MS it signs a message with TITAN_HMAC_SECRET_PRIMARY and POSTs it to
``<url>/signed`` for each URL of TITAN_LISTENER_URLS. /health is 200 only while the last database
check (a NEW connection every 5 s, password from TITAN_DB_PASSWORD_FILE) succeeded. It also
checks redis every 5 s with AUTH (password from REDIS_PASSWORD_FILE; redisping.py).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request

from . import common
from .common import App, Metrics, log
from .nats_client import start_nats
from .redisping import RedisChecker

DB_CHECK_INTERVAL_S = 5.0
DB_START_ATTEMPTS = int(os.environ.get("TITAN_DB_START_ATTEMPTS", "60"))  # x 2 s
POST_TIMEOUT_S = 2.0


class DbChecker:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.ok = False
        self.last_error = ""

    def check(self) -> bool:
        import psycopg2  # imported here so the other roles never need it

        self.metrics.inc("db_checks_total")
        try:
            conn = psycopg2.connect(
                host=os.environ.get("TITAN_DB_HOST", "postgres"),
                port=int(os.environ.get("TITAN_DB_PORT", "5432")),
                user=os.environ.get("TITAN_DB_USER", "titan"),
                dbname=os.environ.get("TITAN_DB_NAME", "titan"),
                password=os.environ["TITAN_DB_PASSWORD"],
                connect_timeout=3,
                application_name="titan-brain-demo",
            )
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    cur.fetchone()
            finally:
                conn.close()
        except psycopg2.Error as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
            self.metrics.inc("db_check_failures_total")
            if self.ok or error != self.last_error:
                log.warning("database check failed: %s", error)
            self.ok, self.last_error = False, error
        else:
            if not self.ok:
                log.info("database connection ok (%s)", os.environ.get("TITAN_DB_HOST", "postgres"))
            self.ok, self.last_error = True, ""
        self.metrics.set("db_up", 1 if self.ok else 0)
        return self.ok

    def run(self) -> None:
        for attempt in range(1, DB_START_ATTEMPTS + 1):
            if self.check():
                break
            if attempt == DB_START_ATTEMPTS:
                log.error("database unreachable after %d attempts; exiting", attempt)
                os._exit(1)
            time.sleep(2)
        while not common.deadline_passed():
            time.sleep(DB_CHECK_INTERVAL_S)
            self.check()
        log.info("database checks stopped: TITAN_DEMO_MAX_RUNTIME_S reached")


class Signer:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.key = os.environ["TITAN_HMAC_SECRET_PRIMARY"]
        self.key_id = os.environ.get("TITAN_HMAC_KEY_ID") or "k1"
        self.interval = int(os.environ.get("TITAN_SIGN_INTERVAL_MS", "300")) / 1000.0
        self.listeners = list(common.split_urls(os.environ.get("TITAN_LISTENER_URLS", "")))
        self.max_messages = int(os.environ.get("TITAN_SIGN_MAX_MESSAGES", "0")) or None
        self._last_outcome: dict[str, str] = {}

    def post(self, url: str, body: bytes) -> str:
        req = urllib.request.Request(
            f"{url}/signed", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with common.http_open(req, POST_TIMEOUT_S) as resp:
                resp.read()
                return "accepted" if resp.status == 200 else f"http {resp.status}"
        except urllib.error.HTTPError as exc:
            return "rejected" if exc.code == 401 else f"http {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"unreachable ({reason})"

    def run(self) -> None:
        log.info(
            "signing every %d ms with key id %s for %s",
            int(self.interval * 1000),
            self.key_id,
            ", ".join(self.listeners) or "no listeners",
        )
        self.metrics.set("titan_hmac_key_info", 1, key_id=self.key_id)
        seq = 0
        while not common.deadline_passed():
            if self.max_messages is not None and seq >= self.max_messages:
                break
            seq += 1
            ts = round(time.time(), 3)
            payload = json.dumps({"type": "demo-order", "seq": seq}, separators=(",", ":"))
            sig = common.sign(self.key, self.key_id, seq, ts, payload)
            body = json.dumps(
                {"key_id": self.key_id, "seq": seq, "ts": ts, "payload": payload, "sig": sig}
            ).encode()
            self.metrics.inc("messages_signed_total")
            for url in self.listeners:
                outcome = self.post(url, body)
                if outcome == "accepted":
                    self.metrics.inc("messages_accepted_total")
                elif outcome == "rejected":
                    self.metrics.inc("messages_rejected_total")
                else:
                    self.metrics.inc("messages_failed_total")
                if self._last_outcome.get(url) != outcome:
                    level = log.info if outcome == "accepted" else log.warning
                    level("listener %s: %s (seq %d, key id %s)", url, outcome, seq, self.key_id)
                    self._last_outcome[url] = outcome
            time.sleep(self.interval)
        log.info("signing stopped after %d messages (bound reached)", seq)


def main() -> None:
    common.load_secrets_or_exit()
    common.require("TITAN_HMAC_SECRET_PRIMARY", "TITAN_DB_PASSWORD")
    metrics = Metrics()
    metrics.counter("messages_signed_total", "Messages signed with the primary HMAC key")
    metrics.counter("messages_accepted_total", "Deliveries a listener accepted (200)")
    metrics.counter(
        "messages_rejected_total", "Deliveries a listener rejected (401, bad signature)"
    )
    metrics.counter("messages_failed_total", "Deliveries that failed otherwise (unreachable, 5xx)")
    metrics.counter("db_checks_total", "Database checks (a new connection each)")
    metrics.counter("db_check_failures_total", "Database checks that failed")
    metrics.gauge("db_up", "1 while the last database check succeeded")
    metrics.declare("titan_hmac_key_info", "gauge", "The key id the signer signs with")
    db = DbChecker(metrics)
    app = App("titan-brain", metrics, healthy=lambda: db.ok)
    common.serve(app, common.port_from_env(3100), background=True)
    threading.Thread(target=db.run, name="db", daemon=True).start()
    start_nats("titan-brain", metrics)
    # redis with a password (issue 12); not part of /health: a redis rotation restarts redis
    threading.Thread(target=RedisChecker(metrics).run, name="redis", daemon=True).start()
    Signer(metrics).run()
    threading.Event().wait()  # keep serving /health and /metrics after the bound
