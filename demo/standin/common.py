"""What every stand-in shares: the secret loader, masked logging, metrics and the HTTP server.

Secret contract (README "The `*_FILE` contract for service authors"): for every env var ``X_FILE``
whose ``X`` is unset, ``X`` becomes the content of that file, trimmed. Every value loaded that way
is registered with the masking filter, so it can never reach the service's logs: it is replaced by
``[MASKED]``.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MASK = "[MASKED]"

# Values loaded from secret files; the masking filter replaces each of them in every log record.
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()

# Every loop that sends traffic stops by itself after this many seconds (nothing runs unbounded).
MAX_RUNTIME_S = float(os.environ.get("TITAN_DEMO_MAX_RUNTIME_S", str(12 * 3600)))
STARTED = time.time()

log = logging.getLogger("titan")


class SecretError(Exception):
    """A secret file is missing or unreadable. The message names the variable and the file."""


def register_secret(value: str) -> None:
    if value:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def mask(text: str) -> str:
    """Replace every registered secret value in ``text`` (longest first) with ``[MASKED]``."""
    with _SECRETS_LOCK:
        values = sorted(_SECRETS, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class MaskingFilter(logging.Filter):
    """Render the record's message (and traceback) now, with every loaded secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class MaskingFormatter(logging.Formatter):
    """Belt and braces: mask the final line too (covers anything a filter cannot see)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup_logging(service: str) -> logging.Logger:
    """Log to stdout, line-buffered, one line per record, secrets masked."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(
        MaskingFormatter(f"%(asctime)s %(levelname)s {service}: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = os.environ.get("TITAN_LOG_LEVEL", "info").upper()
    root.setLevel(getattr(logging, level, logging.INFO))
    # Uncaught exceptions go through the masking handler too, never straight to stderr.
    sys.excepthook = lambda t, v, tb: log.critical("uncaught exception", exc_info=(t, v, tb))
    threading.excepthook = lambda a: log.error(
        "uncaught exception in thread %s",
        a.thread.name if a.thread else "?",
        exc_info=(a.exc_type, a.exc_value, a.exc_traceback),
    )
    return log


def load_secret_files(separator: str = "_FILE", prefix: str = "") -> dict[str, str]:
    """Apply the ``X_FILE`` contract to the environment; return {X: file path} of what was loaded.

    ``separator`` is ``__FILE`` for Grafana's spelling. Raises SecretError (naming the variable and
    the file, never the content) when a file cannot be read or is empty.
    """
    loaded: dict[str, str] = {}
    for var, path in sorted(os.environ.items()):
        if not var.endswith(separator) or not var.startswith(prefix):
            continue
        name = var[: -len(separator)]
        if not name or (separator == "_FILE" and name.endswith("_")):
            continue  # "X__FILE" belongs to the double-underscore spelling
        if os.environ.get(name):
            log.info("%s is set; not reading %s=%s", name, var, path)
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise SecretError(f"cannot read {var}={path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SecretError(f"{var}={path} is not UTF-8 text") from None
        if not value:
            raise SecretError(f"{var}={path} is empty")
        register_secret(value)
        os.environ[name] = value
        loaded[name] = path
        # The value goes through the masking filter: the line shows [MASKED].
        log.info("loaded %s from %s = %s", name, path, value)
    return loaded


def load_secrets_or_exit(separator: str = "_FILE", prefix: str = "") -> dict[str, str]:
    try:
        return load_secret_files(separator, prefix)
    except SecretError as exc:
        log.error("refusing to start: %s", exc)
        sys.exit(1)


def require(*names: str) -> None:
    """Exit 1 with a clear line when a required (secret) variable is missing."""
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        for name in missing:
            log.error("refusing to start: %s is not set (set %s_FILE to a secret file)", name, name)
        sys.exit(1)


def deadline_passed() -> bool:
    return time.time() - STARTED > MAX_RUNTIME_S


class Metrics:
    """A tiny thread-safe Prometheus text exposition: counters and gauges, optional labels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._meta: dict[str, tuple[str, str]] = {}

    def declare(self, name: str, kind: str, help_text: str) -> None:
        with self._lock:
            self._meta[name] = (kind, help_text)

    def counter(self, name: str, help_text: str, **labels: str) -> None:
        self.declare(name, "counter", help_text)
        self.inc(name, 0, **labels)

    def gauge(self, name: str, help_text: str, value: float = 0, **labels: str) -> None:
        self.declare(name, "gauge", help_text)
        self.set(name, value, **labels)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in sorted(self._meta.items()):
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for (metric, labels), value in sorted(self._values.items()):
                    if metric != name:
                        continue
                    label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                    sample = f"{name}{{{label_text}}}" if label_text else name
                    number = int(value) if float(value).is_integer() else value
                    lines.append(f"{sample} {number}")
        return "\n".join(lines) + "\n"


Route = Callable[["Request"], tuple[int, str, str]]


class Request:
    def __init__(self, method: str, path: str, body: bytes) -> None:
        self.method = method
        self.path = path
        self.body = body

    def json(self) -> object:
        return json.loads(self.body.decode("utf-8"))


def json_response(status: int, payload: object) -> tuple[int, str, str]:
    return status, "application/json", json.dumps(payload) + "\n"


class App:
    """Routes (method, path) to handlers; /metrics and /health are added by serve()."""

    def __init__(self, service: str, metrics: Metrics, healthy: Callable[[], bool]) -> None:
        self.service = service
        self.metrics = metrics
        self.healthy = healthy
        self.routes: dict[tuple[str, str], Route] = {}
        metrics.gauge("titan_demo_up", "1 while the stand-in runs", 1, service=service)

    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        def decorate(fn: Route) -> Route:
            self.routes[(method, path)] = fn
            return fn

        return decorate

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, str]:
        path = path.split("?", 1)[0]
        fn = self.routes.get((method, path))
        if fn is not None:
            return fn(Request(method, path, body))
        if method == "GET" and path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.render()
        if method == "GET" and path in ("/health", "/healthz", "/api/health"):
            ok = self.healthy()
            return json_response(200 if ok else 503, {"status": "ok" if ok else "unhealthy"})
        return json_response(404, {"error": "not found"})


MAX_BODY = 64 * 1024


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "titan-demo"

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, ctype, text = json_response(413, {"error": "body too large"})
            else:
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The client went away mid-request (urllib sends the headers and the body in
                    # two writes, so a sender stopped between them leaves a torn request): no
                    # message arrived, so nothing is handled or counted as a bad signature.
                    log.info(
                        "%s %s: the client closed before its body (%d of %d bytes); ignored",
                        method,
                        self.path,
                        len(body),
                        length,
                    )
                    self.close_connection = True
                    return
                try:
                    status, ctype, text = app.handle(method, self.path, body)
                except Exception:
                    log.exception("handler for %s %s failed", method, self.path)
                    status, ctype, text = json_response(500, {"error": "internal error"})
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: object) -> None:
            pass  # no access log: health checks every 5 s would drown the interesting lines

    return Handler


def serve(app: App, port: int, background: bool = False) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(app))
    server.daemon_threads = True
    log.info("listening on :%d (/health, /metrics)", port)
    if background:
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    else:
        server.serve_forever()
    return server


def port_from_env(default: int) -> int:
    return int(os.environ.get("PORT") or default)


def split_urls(value: str) -> Iterable[str]:
    return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]


def signing_input(key_id: str, seq: int, ts: float, payload: str) -> bytes:
    """The bytes a signature covers: key id, sequence, timestamp and payload, one per line."""
    return f"{key_id}\n{seq}\n{ts}\n{payload}".encode()


def sign(key: str, key_id: str, seq: int, ts: float, payload: str) -> str:
    """HMAC-SHA256 (hex) over signing_input, keyed with the secret's text as UTF-8 bytes."""
    return hmac.new(
        key.encode("utf-8"), signing_input(key_id, seq, ts, payload), "sha256"
    ).hexdigest()


# Stack-internal HTTP never goes through a proxy (docker may inject HTTP_PROXY into containers).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_open(req: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    return _OPENER.open(req, timeout=timeout)
