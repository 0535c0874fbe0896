#!/usr/bin/env python3
"""Make demo exchange keys: random API key/secret files, registered with demo-exchange.

    python3 demo/gen_exchange_keys.py SECRETS_DIR [--registry DIR]

For binance and bybit it writes SECRETS_DIR/<exchange>_api_key and <exchange>_api_secret with
random values shaped like the real ones, and registers the pair (sha256 digests only) in the
demo-exchange registry; it also writes a random gemini_api_key. A file that already holds a real
(non-placeholder) value is never overwritten: that pair is registered as it is.

Files are written atomically (temp file in the same dir, fsync, rename or link, fsync dir) and
are never readable by others, not even for an instant: mode and group follow the files already in
SECRETS_DIR (0640 + the secrets group when the manifest's secrets_gid is in use), else 0600.
Values are never printed. Stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import stat
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from register_exchange_key import (
    DEFAULT_REGISTRY,
    RegistryError,
    update,
)

ALNUM = string.ascii_letters + string.digits
# name -> (length, alphabet, prefix): shaped like the real ones, random
SHAPES = {
    "binance_api_key": (64, ALNUM, ""),
    "binance_api_secret": (64, ALNUM, ""),
    "bybit_api_key": (18, ALNUM, ""),
    "bybit_api_secret": (36, ALNUM, ""),
    "gemini_api_key": (35, ALNUM + "-_", "AIza"),
}
PAIRS = {
    "binance": ("binance_api_key", "binance_api_secret"),
    "bybit": ("bybit_api_key", "bybit_api_secret"),
}
PLACEHOLDERS = {
    "",
    "changeme",
    "change_me",
    "__change_me__",
    "replace_me",
    "replaceme",
    "your_key",
    "your_api_key",
    "your_secret",
    "todo",
    "xxx",
    "placeholder",
}


def random_value(name: str) -> str:
    length, alphabet, prefix = SHAPES[name]
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def is_placeholder(value: str, example: str | None) -> bool:
    v = value.strip()
    if v.lower() in PLACEHOLDERS or (example is not None and v == example.strip()):
        return True
    return v.startswith("__") and v.endswith("__")  # __CHANGE_ME__ and friends


def reference_mode(secrets_dir: str) -> tuple[int, int]:
    """(mode, gid) for new files: like the regular files already in the dir, else 0640 + the dir's
    group when the dir is group-readable (the secrets_gid layout), else 0600."""
    for name in sorted(os.listdir(secrets_dir)):
        st = os.lstat(os.path.join(secrets_dir, name))
        if stat.S_ISREG(st.st_mode) and not name.startswith("."):
            mode = stat.S_IMODE(st.st_mode) & 0o640  # never more than 0640, nothing for others
            return (mode | 0o600), st.st_gid
    st = os.stat(secrets_dir)
    if stat.S_IMODE(st.st_mode) & 0o050 == 0o050:  # a group-readable dir: the secrets group
        return 0o640, st.st_gid
    return 0o600, os.getgid()


def write_secret(path: str, value: str, mode: int, gid: int, replace: bool) -> None:
    """Atomic write; with replace=False an existing file is never clobbered (link, not rename)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)  # no trailing newline, as `titan-deploy init` writes them
            fh.flush()
            if gid != os.getegid():
                with contextlib.suppress(PermissionError):
                    os.fchown(fh.fileno(), -1, gid)
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile
            os.unlink(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ensure(
    secrets_dir: str, name: str, example_dir: str | None, mode: int, gid: int
) -> tuple[str, str]:
    """Make sure secrets_dir/name holds a real value; return (value, what was done)."""
    path = os.path.join(secrets_dir, name)
    example = None
    if example_dir:
        with (
            contextlib.suppress(OSError, UnicodeDecodeError),
            open(os.path.join(example_dir, name), encoding="utf-8") as fh,
        ):
            example = fh.read()
    try:
        with open(path, encoding="utf-8") as fh:
            current = fh.read()
    except FileNotFoundError:
        current = None
    if current is not None and not is_placeholder(current, example):
        return current.strip(), "kept (already set)"
    value = random_value(name)
    write_secret(path, value, mode, gid, replace=current is not None)
    return value, "replaced a placeholder" if current is not None else "generated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write random demo exchange keys and register them with demo-exchange."
    )
    parser.add_argument("secrets_dir")
    parser.add_argument(
        "--registry",
        default=os.environ.get("TITAN_DEMO_REGISTRY", DEFAULT_REGISTRY),
        help="registry directory (default: $TITAN_DEMO_REGISTRY or .titan-deploy/demo)",
    )
    parser.add_argument(
        "--example-dir",
        help="placeholder files to treat as unset (default: secrets.example beside SECRETS_DIR)",
    )
    args = parser.parse_args(argv)
    secrets_dir = args.secrets_dir
    if not os.path.isdir(secrets_dir):
        os.makedirs(secrets_dir, mode=0o700)
    example_dir = args.example_dir
    if example_dir is None:
        candidate = os.path.join(os.path.dirname(os.path.abspath(secrets_dir)), "secrets.example")
        example_dir = candidate if os.path.isdir(candidate) else None
    mode, gid = reference_mode(secrets_dir)
    try:
        for exchange, (key_name, secret_name) in PAIRS.items():
            key, did_key = ensure(secrets_dir, key_name, example_dir, mode, gid)
            secret, did_secret = ensure(secrets_dir, secret_name, example_dir, mode, gid)
            print(f"{key_name}: {did_key}; {secret_name}: {did_secret}")
            print(update(args.registry, exchange, key, secret))
        _, did = ensure(secrets_dir, "gemini_api_key", example_dir, mode, gid)
        print(f"gemini_api_key: {did}")
    except (OSError, RegistryError) as exc:
        print(f"gen_exchange_keys: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
