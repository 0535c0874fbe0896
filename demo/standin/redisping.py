"""The Titan stand-ins' redis client (issue 12): AUTH with the password from REDIS_PASSWORD_FILE
(the `*_FILE` contract put it in REDIS_PASSWORD), then PING, on a new connection every 5 s.
Plain RESP over a socket: the password is sent to redis only, never logged (masked), never on
argv. Counters: redis_checks_total, redis_check_failures_total; gauge redis_up."""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

from . import common
from .common import Metrics, log

INTERVAL_S = 5.0


def _command(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def ping(url: str, password: str, timeout: float = 3.0) -> str:
    """ "ok", or why not (a redis error line, which never holds the password, or a socket
    error)."""
    parts = urlsplit(url)
    address = (parts.hostname or "redis", parts.port or 6379)
    try:
        with socket.create_connection(address, timeout) as s:
            s.sendall(_command("AUTH", password) + _command("PING"))
            reply = b""
            while reply.count(b"\r\n") < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        return f"unreachable ({type(exc).__name__})"
    lines = reply.split(b"\r\n")
    if lines[:2] == [b"+OK", b"+PONG"]:
        return "ok"
    return (lines[0].decode("utf-8", "replace") or "no answer")[:80]


class RedisChecker:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.url = os.environ.get("REDIS_URL", "redis://redis:6379")
        self.password = os.environ.get("REDIS_PASSWORD", "")
        self.last = ""
        metrics.counter("redis_checks_total", "redis AUTH + PING checks (a new connection each)")
        metrics.counter("redis_check_failures_total", "redis checks that failed")
        metrics.gauge("redis_up", "1 while the last redis check succeeded")

    def run(self) -> None:
        if not self.password:
            log.warning("REDIS_PASSWORD_FILE not set: no redis checks")
            return
        while not common.deadline_passed():
            outcome = ping(self.url, self.password)
            self.metrics.inc("redis_checks_total")
            if outcome != "ok":
                self.metrics.inc("redis_check_failures_total")
            self.metrics.set("redis_up", 1 if outcome == "ok" else 0)
            if outcome != self.last:
                (log.info if outcome == "ok" else log.warning)("redis check: %s", outcome)
                self.last = outcome
            time.sleep(INTERVAL_S)
