#!/usr/bin/env python3
"""titan-deploy's AWS Secrets Manager renderer: the sidecar of the agent path for
`backend: {type: aws-secretsmanager, agent: ...}` (README "Secrets managers").

AWS ships no program that renders Secrets Manager values to files (its Secrets Manager Agent is
an HTTP cache), so this is a small one with the OpenBao agent's contract:

- `render.py CONFIG`: CONFIG is the JSON file `titan-deploy render-agent` writes
  (core/agent_aws.py; `#` lines before the JSON are skipped): region, endpoint_url, interval
  (seconds) and per file its secret_id, version_id (the pin; "" = AWSCURRENT), path, mode.
- Every file is written atomically (a temp file in the same directory, fsync, rename) and only
  when its content changed; then every entry is re-read each `interval` seconds. It keeps
  running until SIGTERM/SIGINT (exit 0).
- Credentials and region come from the standard AWS configuration (the shared files named by
  AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, or an instance role); the JSON's region and
  endpoint override them when set.
- No value is ever logged: a line names the file, the SecretId and the VersionId, and a
  failure its AWS error code (or the exception's class), never its text.

Runs on Debian's python3-boto3 (scripts/build-aws-agent-image.sh).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
from typing import Any

CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.]{0,63}")


def log(message: str) -> None:
    """One line on stderr (the container's log)."""
    sys.stderr.write(f"titan-aws-agent: {message}\n")
    sys.stderr.flush()


def load_config(path: str) -> dict[str, Any]:
    """The JSON after any leading `#` lines; ValueError when it is not the expected shape."""
    with open(path, encoding="utf-8") as handle:
        text = "".join(line for line in handle if not line.lstrip().startswith("#"))
    config = json.loads(text)
    if not isinstance(config, dict) or not isinstance(config.get("files"), list):
        raise ValueError("no `files` list")
    for item in config["files"]:
        if not isinstance(item.get("secret_id"), str) or not str(item.get("path", "")).startswith(
            "/"
        ):
            raise ValueError("a file without secret_id or absolute path")
    return config


def failure(exc: BaseException) -> str:
    """An AWS error code, else the exception's class name: never its message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str((response.get("Error") or {}).get("Code", ""))
        if CODE_RE.fullmatch(code):
            return code
    return type(exc).__name__


def write_atomic(path: str, data: bytes, mode: int) -> bool:
    """Write `data` at `path` with `mode` atomically (parents created 0755); False when the
    file already holds exactly `data` with that mode."""
    try:
        with open(path, "rb") as handle:
            same = handle.read() == data
        if same and (os.stat(path).st_mode & 0o7777) == mode:
            return False
    except FileNotFoundError:
        pass
    parent = os.path.dirname(path)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".titan-aws-agent-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def render_once(client: Any, config: dict[str, Any], seen: dict[str, str]) -> int:
    """Read every file's version and write it where it changed; the number of failures.
    `seen`: path -> the VersionId last written there (a log line only when it changes)."""
    failed = 0
    for item in config["files"]:
        secret_id, version_id, path = item["secret_id"], item.get("version_id") or "", item["path"]
        extra = {"VersionId": version_id} if version_id else {"VersionStage": "AWSCURRENT"}
        try:
            answer = client.get_secret_value(SecretId=secret_id, **extra)
            text = answer.get("SecretString")
            if not isinstance(text, str):
                raise TypeError("no SecretString")
            mode = int(str(item.get("mode") or "0444"), 8)
            changed = write_atomic(path, text.encode("utf-8"), mode)
        except Exception as exc:
            failed += 1
            log(f"{path}: reading {secret_id} {version_id or 'AWSCURRENT'} failed ({failure(exc)})")
            continue
        got = str(answer.get("VersionId", ""))
        if changed or seen.get(path) != got:
            log(f"{path}: rendered {secret_id} version {got}")
            seen[path] = got
    return failed


def make_client(config: dict[str, Any]) -> Any:
    """A Secrets Manager client from the standard AWS configuration, the JSON's region and
    endpoint overriding it where set."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=config.get("region") or None)
    timeouts = Config(connect_timeout=10, read_timeout=10, retries={"max_attempts": 2})
    return session.client(
        "secretsmanager", endpoint_url=config.get("endpoint_url") or None, config=timeouts
    )


def main(argv: list[str]) -> int:
    """Render until stopped. Exit 2 for a bad config (one line), 0 on SIGTERM/SIGINT."""
    if len(argv) != 2:
        log("usage: render.py CONFIG.json")
        return 2
    try:
        config = load_config(argv[1])
        client = make_client(config)
    except Exception as exc:
        log(f"cannot start: {argv[1]}: {failure(exc)}")
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    interval = max(1, int(config.get("interval") or 5))
    seen: dict[str, str] = {}
    log(f"rendering {len(config['files'])} files every {interval}s")
    while not stop.is_set():
        render_once(client, config, seen)
        stop.wait(interval)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
