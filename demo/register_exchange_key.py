#!/usr/bin/env python3
"""Register an exchange API key pair with the demo exchange (demo/README.md).

    python3 demo/register_exchange_key.py EXCHANGE KEY_FILE SECRET_FILE [--registry DIR]
    python3 demo/register_exchange_key.py EXCHANGE KEY_FILE SECRET_FILE --revoke
    python3 demo/register_exchange_key.py EXCHANGE KEY_FILE SECRET_FILE --read-only

Reads the key and the secret from the two files (trimmed, as the services read them) and adds
their sha256 digests to DIR/exchange_keys.json, the registry the demo-exchange container reads
(mounted read-only at /registry; it re-reads the file on every request, so no restart is needed).
The registry holds ONLY digests. It is written atomically (temp file in the same dir, fsync,
rename) with mode 0600, under an flock so concurrent registrations do not lose each other.
`--read-only` registers the pair without the trade permission (`"trade": false`): it connects,
but the demo exchange refuses its test orders (a key created without trading rights).
No value is ever printed. Stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator

EXCHANGES = ("binance", "bybit")
REGISTRY_NAME = "exchange_keys.json"
DEFAULT_REGISTRY = os.path.join(".titan-deploy", "demo")


class RegistryError(Exception):
    pass


def read_value(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
    except OSError as exc:
        raise RegistryError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"the {what} file {path} is not UTF-8 text") from None
    if not value:
        raise RegistryError(f"the {what} file {path} is empty")
    return value


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def ensure_dir(path: str) -> None:
    """Create the registry dir (and missing parents) 0700."""
    os.makedirs(path, mode=0o700, exist_ok=True)


@contextlib.contextmanager
def locked(registry_dir: str) -> Iterator[None]:
    fd = os.open(os.path.join(registry_dir, ".exchange_keys.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load(path: str) -> dict[str, list[dict[str, str]]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"cannot read the registry {path}: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"the registry {path} is not a JSON object")
    return data


def write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".exchange_keys.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def update(
    registry_dir: str,
    exchange: str,
    key: str,
    secret: str,
    revoke: bool = False,
    read_only: bool = False,
) -> str:
    """Add (or with revoke, remove) the pair's digests; return what happened, without values.
    `read_only`: the entry says `"trade": false` (connects, test orders refused)."""
    if exchange not in EXCHANGES:
        raise RegistryError(
            f"unknown exchange {exchange!r} (expected one of {', '.join(EXCHANGES)})"
        )
    ensure_dir(registry_dir)
    path = os.path.join(registry_dir, REGISTRY_NAME)
    pair = {"key_sha256": digest(key), "secret_sha256": digest(secret)}
    entry = {**pair, "trade": False} if read_only else pair
    with locked(registry_dir):
        data = load(path)
        same = [e for e in data.get(exchange, []) if isinstance(e, dict)]
        if not revoke:  # a pair registered again with other rights replaces its old entry
            same = [e for e in same if e == entry or {k: e.get(k) for k in pair} != pair]
        entries = same
        present = entry in entries
        if revoke:
            if not present:
                return f"{exchange}: key pair was not registered in {path}"
            entries = [e for e in entries if {k: e.get(k) for k in pair} != pair]
            outcome = f"{exchange}: key pair revoked in {path}"
        else:
            if present:
                return f"{exchange}: key pair already registered in {path}"
            entries.append(entry)
            outcome = f"{exchange}: key pair registered in {path}"
        data[exchange] = entries
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Register an exchange API key pair (sha256 digests only) with demo-exchange."
    )
    parser.add_argument("exchange", choices=EXCHANGES)
    parser.add_argument("key_file", help="file holding the API key")
    parser.add_argument("secret_file", help="file holding the API secret")
    parser.add_argument(
        "--registry",
        default=os.environ.get("TITAN_DEMO_REGISTRY", DEFAULT_REGISTRY),
        help="registry directory (default: $TITAN_DEMO_REGISTRY or .titan-deploy/demo)",
    )
    parser.add_argument("--revoke", action="store_true", help="remove the pair instead")
    parser.add_argument(
        "--read-only", action="store_true", help="no trade permission: test orders refused"
    )
    args = parser.parse_args(argv)
    try:
        key = read_value(args.key_file, "key")
        secret = read_value(args.secret_file, "secret")
        print(update(args.registry, args.exchange, key, secret, args.revoke, args.read_only))
    except RegistryError as exc:
        print(f"register_exchange_key: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
