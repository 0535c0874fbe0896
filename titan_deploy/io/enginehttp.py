"""A lean GET of JSON from a local engine's unix socket, for the calls `verify` makes once per
container (list, inspect: issue 15).

The SDK sends each request through requests and urllib3: about 1.7 ms of CPU per inspect on
this machine class, against about 0.45 ms for http.client on a kept-alive socket. Only plain GETs
of JSON go through here, and only when the SDK itself talks to a unix socket (io/engine.py
decides); the URL (with the API version the SDK negotiated) is still built by the SDK. Every
other call (archive, exec, logs, top) stays on the SDK.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from queue import Empty, SimpleQueue
from typing import Any

from titan_deploy.errors import EngineUnreachable, RuntimeFailure


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class LocalAPI:
    """GET `path` (as the SDK's `_url` builds it, without its base) and parse the JSON answer,
    over kept-alive connections to `socket_path`, one per thread at a time (a free list)."""

    def __init__(self, socket_path: str, timeout: float) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._free: SimpleQueue[_UnixConnection] = SimpleQueue()

    def get_json(self, what: str, path: str) -> Any:
        """The decoded JSON of a 2xx answer. Raises EngineUnreachable when the socket does not
        answer, RuntimeFailure (`cannot <what>: <the engine's message>`) on any other status."""
        status, body = self._get(what, path)
        if 200 <= status < 300:
            return json.loads(body)
        raise RuntimeFailure(f"cannot {what}: {engine_message(status, body)}")

    def _get(self, what: str, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a kept-alive socket the engine closed: one fresh retry
            conn = self._take()
            try:
                conn.request("GET", path, headers={"Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt == 2:
                    raise EngineUnreachable(
                        f"cannot {what}: the Docker engine is unreachable"
                    ) from None
                continue
            if response.will_close:
                conn.close()
            else:
                self._free.put(conn)
            return response.status, body
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> _UnixConnection:
        with contextlib.suppress(Empty):
            return self._free.get_nowait()
        return _UnixConnection(self.socket_path, self.timeout)


def engine_message(status: int, body: bytes) -> str:
    """The engine's one-line `message` of an error answer (else the HTTP status), at most 200
    characters, as io/engine._api_reason shortens the SDK's."""
    try:
        message = str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    lines = message.splitlines()
    return (lines[0] if lines else f"HTTP {status}")[:200]


def local_api(client: Any) -> LocalAPI | None:
    """A LocalAPI on the unix socket the SDK `client` talks to, or None (tcp, ssh, a fake)."""
    api: Any = getattr(client, "api", None)
    base = getattr(api, "base_url", None)
    if not isinstance(base, str) or not base.startswith("http+docker://"):
        return None
    try:
        socket_path = api.get_adapter(base).socket_path
    except Exception:  # an SDK without this adapter shape: stay on the SDK
        return None
    timeout = api.timeout if isinstance(api.timeout, (int, float)) else 60
    return LocalAPI(socket_path, float(timeout)) if isinstance(socket_path, str) else None
