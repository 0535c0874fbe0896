"""core/conventions.py: which *_FILE names official images read (the table lint judges by)."""

from __future__ import annotations

import pytest

from titan_deploy.core.conventions import (
    CONVENTIONS,
    convention_for,
    image_repository,
    unread_file_var,
)


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("postgres", "library/postgres"),
        ("postgres:16-bookworm", "library/postgres"),
        ("docker.io/library/postgres:16", "library/postgres"),
        ("index.docker.io/library/postgres@sha256:" + "a" * 64, "library/postgres"),
        ("mirror.example:5000/library/postgres:16", "library/postgres"),
        ("localhost/postgres", "library/postgres"),
        ("grafana/grafana:11.3.0", "grafana/grafana"),
        ("docker.io/grafana/grafana-oss", "grafana/grafana-oss"),
        ("bitnami/postgresql:16", "bitnami/postgresql"),
        ("ghcr.io/acme/postgres:16", "acme/postgres"),
        ("${REG:-docker.io}/library/postgres:${TAG:-16}", "library/postgres"),
        ("${PG_IMAGE}", None),
        ("", None),
        (None, None),
    ],
)
def test_image_repository(image: str | None, repository: str | None) -> None:
    assert image_repository(image) == repository


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("postgres:16", "postgres"),
        ("docker.io/library/mysql:8.4", "mysql"),
        ("mariadb:11", "mariadb"),
        ("grafana/grafana-enterprise:11", "grafana"),
        ("redis:7", None),
        ("bitnami/postgresql", None),
        ("ghcr.io/acme/postgres", None),
        ("titan-demo/postgres:latest", None),
        (None, None),
    ],
)
def test_convention_for_recognises_only_official_images(
    image: str | None, name: str | None
) -> None:
    conv = convention_for(image)
    assert (conv.name if conv else None) == name


def test_the_table_matches_the_images_docs() -> None:
    by_name = {c.name: c for c in CONVENTIONS}
    assert by_name["postgres"].file_vars == {
        "POSTGRES_PASSWORD_FILE",
        "POSTGRES_USER_FILE",
        "POSTGRES_DB_FILE",
        "POSTGRES_INITDB_ARGS_FILE",
    }
    assert by_name["mysql"].file_vars == {
        "MYSQL_ROOT_PASSWORD_FILE",
        "MYSQL_ROOT_HOST_FILE",
        "MYSQL_DATABASE_FILE",
        "MYSQL_USER_FILE",
        "MYSQL_PASSWORD_FILE",
    }
    mariadb = by_name["mariadb"]
    assert {"MYSQL_PASSWORD_FILE", "MARIADB_PASSWORD_FILE", "MARIADB_ROOT_PASSWORD_FILE"} <= (
        mariadb.file_vars
    )
    assert "MARIADB_REPLICATION_PASSWORD_FILE" in mariadb.file_vars
    grafana = by_name["grafana"]
    assert grafana.reads("GF_SECURITY_ADMIN_PASSWORD__FILE")
    assert not grafana.reads("GF_SECURITY_ADMIN_PASSWORD_FILE")
    assert grafana.base("GF_SECURITY_ADMIN_PASSWORD__FILE") == "GF_SECURITY_ADMIN_PASSWORD"
    assert by_name["postgres"].base("POSTGRES_DB_FILE") == "POSTGRES_DB"
    assert by_name["postgres"].base("POSTGRES_PASS_FILE") is None
    assert all(c.exclusive for c in CONVENTIONS)


@pytest.mark.parametrize(
    ("image", "name", "value", "declared", "suggestion"),
    [
        (
            "grafana/grafana",
            "GF_SECURITY_ADMIN_PASSWORD_FILE",
            None,
            False,
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
        ),
        (
            "grafana/grafana",
            "GF_AUTH_GITHUB_CLIENT_SECRET_FILE",
            "/etc/x",
            False,
            "GF_AUTH_GITHUB_CLIENT_SECRET__FILE",
        ),
        ("grafana/grafana", "ADMIN_PASSWORD_FILE", "/run/secrets/p", False, None),
        (
            "grafana/grafana",
            "GF_SECURITY_ADMIN_USER_FILE",
            None,
            True,
            "GF_SECURITY_ADMIN_USER__FILE",
        ),
        ("postgres:16", "POSTGRES_PASSWORD__FILE", None, False, "POSTGRES_PASSWORD_FILE"),
        ("postgres:16", "POSTGRES_HOST_AUTH_METHOD_FILE", None, False, None),
        ("mysql", "MYSQL_ROOT_PASSWD_FILE", None, False, "MYSQL_ROOT_PASSWORD_FILE"),
        ("mariadb", "MARIADB_ROOT_PASSWORD__FILE", None, False, "MARIADB_ROOT_PASSWORD_FILE"),
    ],
)
def test_unread_file_var(
    image: str, name: str, value: str | None, declared: bool, suggestion: str | None
) -> None:
    bad = unread_file_var(image, name, value, declared)
    assert bad is not None
    assert (bad.name, bad.suggestion) == (name, suggestion)


@pytest.mark.parametrize(
    ("image", "name", "value", "declared"),
    [
        ("grafana/grafana", "GF_SECURITY_ADMIN_PASSWORD__FILE", "/run/secrets/p", True),
        ("grafana/grafana", "GF_SERVER_CERT_FILE", "/run/secrets/tls", True),  # a real setting
        ("grafana/grafana", "GF_AUTH_JWT_KEY_FILE", "/run/secrets/jwt", False),
        ("grafana/grafana", "GF_LOG_FILE", None, False),  # not secret-looking, not declared
        ("postgres:16", "POSTGRES_PASSWORD_FILE", "/run/secrets/p", True),
        ("postgres:16", "APP_CONFIG_FILE", "/etc/app.conf", False),  # not meant for the image
        ("postgres:16", "POSTGRES_PASSWORD", "x", False),  # not a file var
        ("redis:7", "REDIS_PASSWORD_FILE", "/run/secrets/r", True),  # no known convention
        ("bitnami/postgresql", "POSTGRESQL_PASSWORD_FILE", "/run/secrets/p", True),
        ("${IMAGE}", "POSTGRES_PASSWORD__FILE", "/run/secrets/p", True),
    ],
)
def test_no_finding_or_no_judgement(
    image: str, name: str, value: str | None, declared: bool
) -> None:
    assert unread_file_var(image, name, value, declared) is None
