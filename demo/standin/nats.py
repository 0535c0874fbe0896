"""NATS stand-in: GET /healthz on the monitoring port (8222) and a minimal client port (4222).

It accepts the real server's flags (--jetstream, --store_dir, --http_port, --port, ...) so the
prod `command:` works unchanged. The client port greets with INFO and answers PING with PONG.
"""

from __future__ import annotations

import argparse
import json
import socketserver
import threading

from . import common
from .common import App, Metrics, log


class ClientHandler(socketserver.StreamRequestHandler):
    timeout = 300

    def handle(self) -> None:
        info = {"server_id": "titan-demo-nats", "version": "2.10.0-standin", "jetstream": True}
        self.wfile.write(f"INFO {json.dumps(info)}\r\n".encode())
        try:
            for raw in self.rfile:
                line = raw.strip().upper()
                if line == b"PING":
                    self.wfile.write(b"PONG\r\n")
                elif line.startswith(b"CONNECT"):
                    self.wfile.write(b"+OK\r\n")
        except (TimeoutError, OSError):
            pass


class ClientServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="nats-standin", add_help=False)
    parser.add_argument("-p", "--port", type=int, default=4222)
    parser.add_argument("-m", "--http_port", type=int, default=8222)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        log.info("ignoring flags of the real server: %s", " ".join(ignored))
    client = ClientServer(("0.0.0.0", args.port), ClientHandler)
    threading.Thread(target=client.serve_forever, name="client", daemon=True).start()
    log.info("client port listening on :%d", args.port)
    metrics = Metrics()
    common.serve(App("nats", metrics, healthy=lambda: True), args.http_port)
