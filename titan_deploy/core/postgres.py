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
