#!/usr/bin/env python3
"""Write the demo nats-server's users file from the NATS password (issue 12, until a rendered
config-file secret does it).

    python3 demo/gen_nats_auth.py SECRETS_DIR

Reads SECRETS_DIR/nats_password (written by `titan-deploy init`) and writes
SECRETS_DIR/nats_auth_conf, one line:

    users = [{user: "titan", pass: "..."}]

which demo/nats/nats.conf includes in its `authorization` block (mounted at
/run/secrets/nats_auth.conf). A file that already holds exactly that line is kept; a placeholder
or a stale one is replaced atomically (a new inode: a running nats keeps what it read until it
is recreated). Mode and group follow the other files of SECRETS_DIR. Values are never printed.
Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gen_exchange_keys import reference_mode, write_secret

USER = "titan"
PASSWORD_FILE = "nats_password"
AUTH_FILE = "nats_auth_conf"


def auth_line(password: str) -> str:
    """The users line nats-server reads; the password JSON-quoted (a valid NATS config string).
    `pass`, not `password`: the CLI scrubs every 8-character piece of every file in the secrets
    dir from its output, and the word "password" must stay readable there."""
    return f"users = [{{user: {json.dumps(USER)}, pass: {json.dumps(password)}}}]"


def ensure_auth(secrets_dir: str) -> str:
    """Write SECRETS_DIR/nats_auth_conf when it does not hold the current line; return what
    was done (never a value). OSError/ValueError when nats_password is missing or empty."""
    with open(os.path.join(secrets_dir, PASSWORD_FILE), encoding="utf-8") as fh:
        password = fh.read().strip()
    if not password or password.startswith("__"):
        raise ValueError(f"{PASSWORD_FILE} holds no password yet (run titan-deploy init)")
    wanted = auth_line(password)
    path = os.path.join(secrets_dir, AUTH_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            current = fh.read()
    except FileNotFoundError:
        current = None
    if current is not None and current.strip() == wanted:
        return f"{AUTH_FILE}: kept (matches {PASSWORD_FILE})"
    mode, gid = reference_mode(secrets_dir)
    write_secret(path, wanted, mode, gid, replace=current is not None)
    return f"{AUTH_FILE}: written from {PASSWORD_FILE}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the demo nats-server's users file.")
    parser.add_argument("secrets_dir")
    args = parser.parse_args(argv)
    try:
        print(ensure_auth(args.secrets_dir))
    except (OSError, ValueError) as exc:
        print(f"gen_nats_auth: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
