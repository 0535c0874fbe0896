"""The manifest's `backend:` and the pure decisions of push and pull (core/backend.py; README
"Secrets managers")."""

from __future__ import annotations

import pytest

from titan_deploy.core.backend import (
    BackendAuth,
    BackendConfig,
    Stored,
    encode_value,
    pull_action,
    push_action,
)
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.errors import ConfigError

BASE = "version: 1\nsecrets: {k: {kind: text}}\n"


def parse(section: str) -> BackendConfig | None:
    return parse_manifest_text(BASE + section, "m.yml").backend


def error_of(section: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(section)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_no_backend_is_none() -> None:
    assert parse("") is None


def test_openbao_with_a_token_file() -> None:
    config = parse(
        "backend:\n  type: openbao\n  address: https://bao.example:8200/\n"
        "  prefix: /titan/prod/\n  auth: {token_file: /etc/titan/token}\n"
    )
    assert config == BackendConfig(
        type="openbao",
        prefix="titan/prod",
        address="https://bao.example:8200",
        auth=BackendAuth(token_file="/etc/titan/token"),
    )
    assert config.location("db") == "openbao:secret/titan/prod/db"
    assert config.auth and config.auth.method == "token"


def test_openbao_with_approle_files() -> None:
    config = parse(
        "backend:\n  type: openbao\n  address: http://127.0.0.1:8200\n  mount: kv\n"
        "  auth: {role_id_file: r, secret_id_file: s, approle_mount: ci/approle}\n"
    )
    assert config and config.auth == BackendAuth(None, "r", "s", "ci/approle")
    assert config.auth.method == "approle" and config.location("x") == "openbao:kv/titan/x"


def test_aws() -> None:
    config = parse(
        "backend: {type: aws-secretsmanager, region: eu-west-1, "
        "endpoint_url: 'http://127.0.0.1:5000', timeout: 3}\n"
    )
    assert config == BackendConfig(
        type="aws-secretsmanager",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:5000",
        timeout=3.0,
    )
    assert config.location("db") == "aws-secretsmanager:titan/db"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("backend: {type: consul}\n", "m.yml:3: backend.type: should be one of openbao, aws"),
        ("backend: {type: openbao, auth: {token_file: t}}\n", "missing required key `address`"),
        ("backend: {type: openbao, address: 'http://x'}\n", "missing required key `auth`"),
        (
            "backend: {type: openbao, address: 'http://x', auth: {token: abc}}\n",
            "m.yml:3: backend.auth.token: unknown key",
        ),
        (
            "backend: {type: openbao, address: 'http://x', auth: {role_id_file: r}}\n",
            "needs token_file, or both role_id_file and secret_id_file",
        ),
        (
            "backend: {type: openbao, address: 'http://x', "
            "auth: {token_file: t, role_id_file: r, secret_id_file: s}}\n",
            "either token_file or role_id_file + secret_id_file, not both",
        ),
        (
            "backend: {type: openbao, address: 'ftp://x', auth: {token_file: t}}\n",
            "backend.address: should be an http(s)://HOST[:PORT] URL",
        ),
        (
            "backend: {type: openbao, address: 'http://x', prefix: a/../b, "
            "auth: {token_file: t}}\n",
            "backend.prefix: should be a path of",
        ),
        ("backend: {type: aws-secretsmanager, mount: kv}\n", "backend.mount: not a key of type"),
        ("backend: {type: aws-secretsmanager, region: Mars}\n", "backend.region: should be"),
        ("backend: {type: aws-secretsmanager, timeout: 0}\n", "backend.timeout: must be"),
        ("backend: {type: aws-secretsmanager, bogus: 1}\n", "backend.bogus: unknown key"),
    ],
)
def test_bad_backend_sections(section: str, message: str) -> None:
    assert message in error_of(section)


def test_push_and_pull_actions() -> None:
    stored = Stored(b"value-1", "3")
    assert push_action(None, stored) == "missing"
    assert push_action(b"value-1", None) == "create"
    assert push_action(b"value-1", stored) == "unchanged"
    assert push_action(b"value-2", stored) == "update"
    assert pull_action(None, b"x", force=True) == "absent"
    assert pull_action(stored, None, force=False) == "write"
    assert pull_action(stored, b"value-1", force=False) == "unchanged"
    assert pull_action(stored, b"value-2", force=False) == "differs"
    assert pull_action(stored, b"value-2", force=True) == "replace"


def test_stored_never_shows_its_value() -> None:
    assert "s3cr3t-canary" not in repr(Stored(b"s3cr3t-canary", "1"))


def test_a_value_that_is_not_text_names_the_secret_only() -> None:
    with pytest.raises(ConfigError) as caught:
        encode_value("db", b"\xff\xfe-canary")
    assert str(caught.value).startswith("db:") and "canary" not in str(caught.value)
