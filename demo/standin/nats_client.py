"""A minimal NATS client for the stand-ins (the text protocol, stdlib only).

NatsConnection speaks what the stand-ins need: INFO, CONNECT with a user and password (read by
the service from ``NATS_PASSWORD_FILE`` like any secret), PUB, SUB/MSG, PING/PONG (a server PING
is answered wherever a line is read), -ERR. A publish is confirmed by a PING/PONG round trip
after it, so a publish the server refused (its user removed by a reload) is counted as failed.

NatsPublisher is the loop every Titan stand-in runs when ``NATS_URL`` is set: it connects as
``NATS_USER`` (default ``titan``) and publishes a heartbeat on ``titan.heartbeat.<role>`` every
``TITAN_NATS_PUBLISH_INTERVAL_S`` (1 s), reconnecting after any failure, for a bounded time. Its
counters, on the service's /metrics like every other stand-in counter:

    nats_connects_total              connections the server accepted (CONNECT + PING -> PONG)
    nats_connect_failures_total      connections refused (Authorization Violation) or unreachable
    nats_auth_failures_total         logins the server refused (its -ERR names authorization or
                                     authentication): a connect refused, or a connection closed
                                     because its user was removed; the rotation guard reads it
                                     (manifest auth_guard.counters, README "NATS credentials")
    nats_publishes_total             publishes confirmed by the server
    nats_publish_failures_total      publishes that failed (error, closed connection, no PONG)
    nats_connected                   1 while a connection is up

The password goes only into the CONNECT line on the socket: never into a log line, an exception
message or a metric.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.parse

from .common import Metrics, deadline_passed, log

MAX_LINE = 64 * 1024  # the longest protocol line read (INFO is a few hundred bytes)
PUBLISH_INTERVAL_S = float(os.environ.get("TITAN_NATS_PUBLISH_INTERVAL_S", "1"))
RETRY_INTERVAL_S = 1.0


class NatsError(Exception):
    """A NATS operation failed; the message never holds a credential. `refused`: the server
    refused the login (an -ERR naming authorization or authentication)."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def refusal(text: str) -> bool:
    """Whether a server -ERR text refuses a login ('Authorization Violation', 'Authentication
    Timeout', 'User Authentication Expired', ...)."""
    lowered = text.lower()
    return "authorization" in lowered or "authentication" in lowered


class NatsConnection:
    """One client connection. `timeout` bounds every socket operation (seconds)."""

    def __init__(
        self, host: str, port: int, user: str, password: str, name: str, timeout: float = 5.0
    ) -> None:
        self.host, self.port, self.name, self.timeout = host, port, name, timeout
        self._user, self._password = user, password
        self._sock: socket.socket | None = None
        self._buf = b""
        self.info: dict = {}

    def connect(self) -> None:
        """Open, read INFO, send CONNECT and PING; NatsError unless the server answers PONG."""
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            reason = exc.strerror or exc
            raise NatsError(f"cannot reach {self.host}:{self.port}: {reason}") from None
        line = self._line()
        if not line.startswith(b"INFO "):
            self.close()
            raise NatsError("the server did not greet with INFO")
        self.info = json.loads(line[5:].decode("utf-8", "replace") or "{}")
        options = {"verbose": False, "pedantic": False, "name": self.name, "lang": "python"}
        options.update({"protocol": 1, "user": self._user, "pass": self._password})
        self._send(b"CONNECT " + json.dumps(options).encode() + b"\r\nPING\r\n")
        self._await_pong("connect")

    def publish(self, subject: str, payload: bytes) -> None:
        """PUB then PING: NatsError unless the server answers PONG (no -ERR in between)."""
        head = f"PUB {subject} {len(payload)}\r\n".encode()
        self._send(head + payload + b"\r\nPING\r\n")
        self._await_pong("publish")

    def subscribe(self, subject: str, sid: str) -> None:
        self._send(f"SUB {subject} {sid}\r\nPING\r\n".encode())
        self._await_pong("subscribe")

    def next_message(self) -> tuple[str, bytes]:
        """(subject, payload) of the next MSG (server PINGs answered meanwhile)."""
        while True:
            line = self._line()
            if line.startswith(b"MSG "):
                parts = line.split()
                size = int(parts[-1])
                data = self._exactly(size + 2)[:size]
                return parts[1].decode(), data
            if line.startswith(b"-ERR"):
                text = _error(line)
                raise NatsError(f"server error: {text}", refusal(text))

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # --- the wire ---------------------------------------------------------------------------

    def _await_pong(self, what: str) -> None:
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                self.close()
                text = _error(line)
                raise NatsError(f"{what} refused: {text}", refusal(text))
            # +OK, INFO updates, MSG of a subscription: not what is awaited

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise NatsError("not connected")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise NatsError(f"connection lost: {exc.strerror or exc}") from None

    def _line(self) -> bytes:
        """The next protocol line without CRLF; a server PING is answered and skipped."""
        while True:
            while b"\r\n" not in self._buf:
                if len(self._buf) > MAX_LINE:
                    raise NatsError("protocol line too long")
                self._fill()
            line, self._buf = self._buf.split(b"\r\n", 1)
            if line == b"PING":
                self._send(b"PONG\r\n")
                continue
            return line

    def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _fill(self) -> None:
        if self._sock is None:
            raise NatsError("not connected")
        try:
            chunk = self._sock.recv(65536)
        except OSError as exc:
            self.close()
            raise NatsError(f"connection lost: {exc.strerror or exc}") from None
        if not chunk:
            self.close()
            raise NatsError("connection closed by the server")
        self._buf += chunk


def _error(line: bytes) -> str:
    """The server's -ERR text (e.g. 'Authorization Violation'); it never echoes a password."""
    return line[4:].strip().strip(b"'").decode("utf-8", "replace")[:200]


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of nats://HOST[:PORT] (default port 4222); ValueError otherwise."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("nats", "tcp") or not parsed.hostname:
        raise ValueError(f"not a nats://HOST:PORT URL: {parsed.scheme}://{parsed.hostname}")
    return parsed.hostname, parsed.port or 4222


class NatsPublisher:
    """The heartbeat loop with its counters (module docstring)."""

    def __init__(self, url: str, user: str, password: str, role: str, metrics: Metrics) -> None:
        self.host, self.port = parse_url(url)
        self._user, self._password = user, password
        self.role = role
        self.metrics = metrics
        metrics.counter("nats_connects_total", "NATS connections the server accepted")
        metrics.counter("nats_connect_failures_total", "NATS connections refused or unreachable")
        metrics.counter("nats_publishes_total", "NATS publishes the server confirmed")
        metrics.counter("nats_publish_failures_total", "NATS publishes that failed")
        metrics.counter("nats_auth_failures_total", "NATS logins the server refused")
        metrics.gauge("nats_connected", "1 while a NATS connection is up")
        self._last_error = ""

    def connect(self) -> NatsConnection | None:
        conn = NatsConnection(self.host, self.port, self._user, self._password, self.role)
        try:
            conn.connect()
        except NatsError as exc:
            self.metrics.inc("nats_connect_failures_total")
            self._count_refusal(exc)
            self._say(f"NATS connect failed ({exc}); retrying")
            return None
        self.metrics.inc("nats_connects_total")
        self.metrics.set("nats_connected", 1)
        self._say("NATS connected")
        return conn

    def publish_once(self, conn: NatsConnection, seq: int) -> bool:
        payload = json.dumps({"service": self.role, "seq": seq, "ts": time.time()}).encode()
        try:
            conn.publish(f"titan.heartbeat.{self.role}", payload)
        except NatsError as exc:
            self.metrics.inc("nats_publish_failures_total")
            self._count_refusal(exc)
            self.metrics.set("nats_connected", 0)
            self._say(f"NATS publish failed ({exc}); reconnecting")
            conn.close()
            return False
        self.metrics.inc("nats_publishes_total")
        return True

    def run(self) -> None:
        conn: NatsConnection | None = None
        seq = 0
        while not deadline_passed():
            if conn is None:
                conn = self.connect()
                if conn is None:
                    time.sleep(RETRY_INTERVAL_S)
                    continue
            seq += 1
            if not self.publish_once(conn, seq):
                conn = None
                continue
            time.sleep(PUBLISH_INTERVAL_S)
        if conn is not None:
            conn.close()

    def _count_refusal(self, exc: NatsError) -> None:
        if exc.refused:
            self.metrics.inc("nats_auth_failures_total")

    def _say(self, text: str) -> None:
        """Log a state change once (not every retry)."""
        if text == self._last_error:
            return
        if text == "NATS connected":
            log.info("%s", text)
        else:
            log.warning("%s", text)
        self._last_error = text


def start_nats(role: str, metrics: Metrics) -> None:
    """Start the heartbeat publisher when NATS_URL is set (user NATS_USER, default titan;
    password NATS_PASSWORD, loaded from NATS_PASSWORD_FILE)."""
    url = os.environ.get("NATS_URL", "")
    if not url:
        log.info("NATS_URL is not set: no NATS connection")
        return
    user = os.environ.get("NATS_USER", "titan")
    password = os.environ.get("NATS_PASSWORD", "")
    try:
        publisher = NatsPublisher(url, user, password, role, metrics)
    except ValueError as exc:
        log.warning("NATS_URL: %s; no NATS connection", exc)
        return
    threading.Thread(target=publisher.run, name="nats", daemon=True).start()
