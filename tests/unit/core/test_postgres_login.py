"""Who `rotate db` logs in as (core.postgres.login) and what it shows when psql fails
(core.postgres.psql_error): the role and database from the container's POSTGRES_USER(_FILE) and
POSTGRES_DB(_FILE), a *_FILE read only when it is a `sensitive: false` secret (issue 10 item 1)."""

from __future__ import annotations

import pytest

from titan_deploy.core.postgres import LoginUnknown, login, psql_error

CONFIG = {"/run/secrets/pg_user": "owner\n", "/run/secrets/pg_db": " appdb "}


def read(path: str) -> str | None:
    return CONFIG.get(path)


@pytest.mark.parametrize(
    ("role", "env", "expected"),
    [
        (None, {}, ("postgres", "postgres")),
        (None, {"POSTGRES_USER": "titan"}, ("titan", "titan")),
        (None, {"POSTGRES_USER": "titan", "POSTGRES_DB": "d"}, ("titan", "d")),
        ("boss", {"POSTGRES_USER": "titan"}, ("boss", "boss")),
        (None, {"POSTGRES_USER_FILE": "/run/secrets/pg_user"}, ("owner", "owner")),
        (
            None,
            {
                "POSTGRES_USER_FILE": "/run/secrets/pg_user",
                "POSTGRES_DB_FILE": "/run/secrets/pg_db",
            },
            ("owner", "appdb"),
        ),
    ],
)
def test_login_follows_the_entrypoint(role, env, expected) -> None:
    assert login(role, env, read, set(CONFIG)) == expected


def test_a_file_that_may_hold_a_secret_is_never_read() -> None:
    touched: list[str] = []

    def spy(path: str) -> str | None:
        touched.append(path)
        return "x"

    env = {"POSTGRES_USER_FILE": "/run/secrets/titan_db_password"}
    with pytest.raises(LoginUnknown, match="sensitive: false"):
        login(None, env, spy, set(CONFIG))
    assert touched == []


def test_an_unreadable_configuration_file_is_named() -> None:
    env = {"POSTGRES_USER_FILE": "/run/secrets/pg_user"}
    with pytest.raises(LoginUnknown, match="cannot be read"):
        login(None, env, lambda _: None, set(CONFIG))


def test_psql_error_keeps_what_psql_said_but_not_the_verifier() -> None:
    stderr = (
        b'psql: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: '
        b'FATAL:  database "nodb" does not exist\n'
        b"LINE 1: ALTER ROLE x PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'\n\n"
    )
    said = psql_error(stderr)
    assert 'FATAL:  database "nodb" does not exist' in said
    assert "SCRAM" not in said
    assert len(psql_error(b"x" * 2000)) == 500
    assert psql_error(b"") == ""
