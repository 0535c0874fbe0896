"""HMAC listener (titan-execution, titan-sentinel): accept a message signed with either key.

POST /signed with JSON {key_id, seq, ts, payload, sig}: 200 when sig is the HMAC-SHA256 of the
message under TITAN_HMAC_SECRET_PRIMARY or TITAN_HMAC_SECRET_SECONDARY (constant-time compare),
else 401 and auth_failures_total += 1.
"""

from __future__ import annotations

import hmac
import os
import threading

from . import common
from .common import App, Metrics, Request, json_response, log

# Log the first rejections, then one in LOG_EVERY, so a broken key does not flood the logs.
LOG_FIRST = 5
LOG_EVERY = 100


class Listener:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.keys: list[tuple[str, str]] = [("primary", os.environ["TITAN_HMAC_SECRET_PRIMARY"])]
        secondary = os.environ.get("TITAN_HMAC_SECRET_SECONDARY")
        if secondary:
            self.keys.append(("secondary", secondary))
        self._lock = threading.Lock()
        self._seen_key: set[tuple[str, str]] = set()
        metrics.counter("auth_failures_total", "Signed messages rejected: no key matches (401)")
        metrics.counter("messages_accepted_total", "Signed messages accepted")
        for slot, _ in self.keys:
            metrics.counter("messages_accepted_by_key_total", "Accepted, by key slot", key=slot)
        metrics.gauge("hmac_keys_loaded", "HMAC keys this listener accepts", len(self.keys))
        log.info("accepting HMAC signatures made with: %s", ", ".join(s for s, _ in self.keys))

    def verify(self, msg: dict[str, object]) -> str | None:
        """The slot of the key that made ``msg['sig']``, or None."""
        sig = str(msg.get("sig", ""))
        fields = (str(msg["key_id"]), int(msg["seq"]), float(msg["ts"]), str(msg["payload"]))
        match = None
        for slot, key in self.keys:  # check every key: the time does not depend on which matched
            if hmac.compare_digest(common.sign(key, *fields), sig) and match is None:
                match = slot
        return match

    def handle(self, req: Request) -> tuple[int, str, str]:
        try:
            msg = req.json()
            if not isinstance(msg, dict):
                raise ValueError("not an object")
            slot = self.verify(msg)
        except (ValueError, KeyError, TypeError):
            slot, msg = None, {}
        if slot is None:
            self.metrics.inc("auth_failures_total")
            n = int(self.metrics.get("auth_failures_total"))
            if n <= LOG_FIRST or n % LOG_EVERY == 0:
                log.warning(
                    "rejected signed message seq=%s key_id=%s: bad signature (auth failure #%d)",
                    msg.get("seq"),
                    msg.get("key_id"),
                    n,
                )
            return json_response(401, {"error": "bad signature"})
        self.metrics.inc("messages_accepted_total")
        self.metrics.inc("messages_accepted_by_key_total", key=slot)
        key_id = str(msg.get("key_id"))
        with self._lock:
            first = (slot, key_id) not in self._seen_key
            self._seen_key.add((slot, key_id))
        if first:
            log.info("accepting messages signed with the %s key (key id %s)", slot, key_id)
        return json_response(200, {"ok": True})

    def install(self, app: App) -> None:
        app.route("POST", "/signed")(self.handle)
