"""PostgreSQL credential provisioning as data: the psql argv, the SQL, the SCRAM verifier.

`rotate db` sets a role's password with `ALTER ROLE ... PASSWORD '<verifier>'` where the verifier
is the SCRAM-SHA-256 hash computed here (what psql's `\\password` does): the server, its logs and
pg_stat_activity never see the password itself. The SQL travels on psql's stdin inside the
postgres container (`docker exec`), never in argv or env. The session also turns statement
logging off, so not even the verifier lands in the server log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping

SCRAM_ITERATIONS = 4096
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


class UnsupportedPassword(ValueError):
    """A value outside printable ASCII: SASLprep would apply, which this module does not do."""


def scram_verifier(password: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The verifier PostgreSQL stores for `password` (RFC 5802/7677, as in pg's scram-common.c)."""
    if not _PRINTABLE_ASCII.fullmatch(password):
        raise UnsupportedPassword("the password is not printable ASCII")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def alter_role_sql(role: str, verifier: str) -> str:
    """psql input: statement logging off for this session, then the ALTER ROLE."""
    if "'" in verifier or "\\" in verifier:
        raise ValueError("a SCRAM verifier never holds quotes")
    return (
        "\\set ON_ERROR_STOP off\n"
        "SET log_statement = 'none';\n"
        "SET log_min_error_statement = 'panic';\n"
        "SET log_min_duration_statement = -1;\n"
        "\\set ON_ERROR_STOP on\n"
        f"ALTER ROLE {quote_ident(role)} PASSWORD '{verifier}';\n"
    )


def psql_argv(role: str, database: str) -> list[str]:
    """psql over the container's local socket; reads the SQL from stdin; never prompts."""
    return ["psql", "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-U", role, "-d", database]


class LoginUnknown(ValueError):
    """The role or database cannot be told without reading a file that may hold a secret."""


def login(
    role: str | None,
    env: Mapping[str, str],
    read: Callable[[str], str | None],
    configuration: Collection[str],
) -> tuple[str, str]:
    """(role, database) `rotate db` logs in as inside the postgres container, as its entrypoint
    chose them: the manifest's `provision.role`, else `POSTGRES_USER`, else the file
    `POSTGRES_USER_FILE` names, else `postgres`; the database: `POSTGRES_DB`, else the file
    `POSTGRES_DB_FILE` names, else the role.

    `env`: the container's environment; `read(path)`: a file's content inside the container
    (None when it cannot be read); `configuration`: the container paths of the service's
    `sensitive: false` secrets. A `*_FILE` pointing anywhere else is never read (its content
    would reach psql's argv): LoginUnknown names what to set instead. Content is trimmed, as
    the entrypoint's `file_env` reads it."""
    role = role or _setting(env, "POSTGRES_USER", read, configuration) or "postgres"
    database = _setting(env, "POSTGRES_DB", read, configuration) or role
    return role, database


def _setting(
    env: Mapping[str, str],
    name: str,
    read: Callable[[str], str | None],
    configuration: Collection[str],
) -> str | None:
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    if path not in configuration:
        raise LoginUnknown(
            f"{name}_FILE names {path}, which is not a `sensitive: false` secret of the "
            f"manifest: mark that secret `sensitive: false` (configuration, not a secret) or "
            "set provision.role"
        )
    value = read(path)
    if value is None or not value.strip():
        raise LoginUnknown(f"{name}_FILE names {path}, which cannot be read in the container")
    return value.strip()


def psql_error(stderr: bytes, limit: int = 500) -> str:
    """What psql said on failure, on one line (every non-empty stderr line, joined by ` | `,
    at most `limit` characters), without any line quoting the SCRAM verifier. Text from
    outside the tool: the caller scrubs it of every secret value before showing it."""
    lines = [
        line.strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and "SCRAM-SHA-256$" not in line
    ]
    text = " | ".join(lines)
    return text if len(text) <= limit else text[: limit - 3] + "..."
