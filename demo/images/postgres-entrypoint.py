#!/usr/bin/python3
"""Entrypoint of titan-demo/postgres: Debian's PostgreSQL 15, started like the official image.

- POSTGRES_PASSWORD, POSTGRES_USER and POSTGRES_DB each may come from a file, as the official
  image's file_env: `X_FILE` names it (read as root, before dropping privileges, trimmed); X
  and X_FILE both set: refuse to start (exit 1). The *_FILE variables are unset before the
  server starts (it never opens the files again).
- First start (no PG_VERSION in PGDATA): initdb as the postgres user with POSTGRES_USER as
  the superuser and that password (passed through a pipe: never argv, env or a temp file), create
  POSTGRES_DB, listen on '*', scram-sha-256 for every TCP connection (local socket: trust, as the
  official image, so `docker exec ... psql` works for ALTER ROLE during a rotation).
- Then exec the server as the postgres user. Argument handling mirrors the official image:
  no arguments or a first argument starting with '-' run postgres; anything else is exec'd.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys

BIN = "/usr/lib/postgresql/15/bin"
PGDATA = os.environ.get("PGDATA", "/var/lib/postgresql/data")
RUN_DIR = "/var/run/postgresql"


def say(msg: str) -> None:
    print(f"postgres-entrypoint: {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"postgres-entrypoint: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def file_env(name: str, what: str) -> str | None:
    """`name`'s value, from the file `name`_FILE names when that is set (the official image's
    file_env; trimmed); both set is an error. The value is never printed."""
    direct = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if direct is not None and path is not None:
        fail(f"both {name} and {name}_FILE are set (but are exclusive)")
    if path is None:
        return direct or None
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
    except OSError as exc:
        fail(f"cannot read {name}_FILE={path}: {exc.strerror or exc}")
    if not value:
        fail(f"{name}_FILE={path} is empty")
    say(f"read the {what} from {path}")
    return value


def as_postgres(pw: pwd.struct_passwd) -> dict[str, object]:
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ident(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def initialise(pw: pwd.struct_passwd, user: str, db: str, secret: str) -> None:
    say(f"initialising {PGDATA} (superuser {user}, database {db})")
    read_fd, write_fd = os.pipe()
    # initdb (as postgres) re-opens /dev/fd/N: the pipe must belong to postgres, not root.
    os.fchown(read_fd, pw.pw_uid, pw.pw_gid)
    with os.fdopen(write_fd, "w") as fh:  # the password travels through a pipe only
        fh.write(secret + "\n")
    args = [
        f"{BIN}/initdb",
        "-D",
        PGDATA,
        f"--username={user}",
        f"--pwfile=/dev/fd/{read_fd}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]
    try:
        done = subprocess.run(
            args, pass_fds=(read_fd,), capture_output=True, text=True, **as_postgres(pw)
        )
    finally:
        os.close(read_fd)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        fail("initdb failed")
    with open(os.path.join(PGDATA, "postgresql.conf"), "a", encoding="utf-8") as fh:
        fh.write("\n# titan-demo\nlisten_addresses = '*'\njit = off\n")
    with open(os.path.join(PGDATA, "pg_hba.conf"), "a", encoding="utf-8") as fh:
        fh.write("\n# titan-demo: every TCP connection needs the password\n")
        fh.write("host all all all scram-sha-256\n")
    if db != "postgres":
        single = subprocess.run(
            [f"{BIN}/postgres", "--single", "-D", PGDATA, "postgres"],
            input=f"CREATE DATABASE {sql_ident(db)} OWNER {sql_ident(user)};\n",
            capture_output=True,
            text=True,
            **as_postgres(pw),
        )
        if single.returncode != 0:
            sys.stderr.write(single.stdout + single.stderr)
            fail(f"could not create database {db}")
    say("initialisation complete")


def main(argv: list[str]) -> None:
    if argv and not argv[0].startswith("-") and argv[0] != "postgres":
        os.execvp(argv[0], argv)
    server_args = argv[1:] if argv and argv[0] == "postgres" else argv
    if os.getuid() != 0:
        fail("run me as root: I prepare PGDATA and drop to the postgres user")
    # before anything else: refuse early when both X and X_FILE are set
    secret = file_env("POSTGRES_PASSWORD", "superuser password")
    user = file_env("POSTGRES_USER", "superuser name")
    db = file_env("POSTGRES_DB", "database name")
    pw = pwd.getpwnam("postgres")
    for path, mode in ((PGDATA, 0o700), (RUN_DIR, 0o2775)):
        os.makedirs(path, exist_ok=True)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)
    if not os.path.exists(os.path.join(PGDATA, "PG_VERSION")):
        if secret is None:
            fail(
                "database is uninitialized and no superuser password is given: set "
                "POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD)"
            )
        initialise(pw, user or "postgres", db or user or "postgres", secret)
    else:
        say(f"{PGDATA} is initialised; skipping init (the password is only used at first init)")
    del secret
    os.environ.pop("POSTGRES_PASSWORD", None)
    # as the official image's file_env (`unset "$fileVar"`): the server, which runs without the
    # secrets group, never opens the file again (verify judges the processes that name it)
    for name in ("POSTGRES_PASSWORD_FILE", "POSTGRES_USER_FILE", "POSTGRES_DB_FILE"):
        os.environ.pop(name, None)
    for name, value in (("POSTGRES_USER", user), ("POSTGRES_DB", db)):
        if value:  # as file_env exports them: configuration, not secrets
            os.environ[name] = value
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ.update(HOME=pw.pw_dir, USER="postgres", LOGNAME="postgres")
    say("starting PostgreSQL 15 as the postgres user")
    os.execv(f"{BIN}/postgres", ["postgres", "-D", PGDATA, *server_args])


if __name__ == "__main__":
    main(sys.argv[1:])
