"""The manifest model (README "The manifest"): the Titan manifest, defaults, and exact error
strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import REPO
from titan_deploy.core.manifest import Consumer, load_manifest, parse_manifest_text
from titan_deploy.core.yamlpos import format_path, load_located
from titan_deploy.errors import ConfigError


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(text, "m.yml")
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_titan_manifest() -> None:
    m = load_manifest(REPO / "secrets.manifest.yml")
    assert list(m.secrets) == [
        "titan_db_password",
        "titan_hmac_secret",
        "binance_api_key",
        "binance_api_secret",
        "bybit_api_key",
        "bybit_api_secret",
        "gemini_api_key",
        "redis_password",
        "grafana_admin_password",
        "nats_user",
        "nats_password",
        "redis_conf",  # a config (configs:), rendered from redis_password
        "nats_auth_conf",  # nats-server's users, rendered from nats_user and nats_password
    ]
    assert list(m.configs) == ["redis_conf", "nats_auth_conf"]
    assert m.compose_files == ("docker-compose.prod.yml",)
    assert m.overlay == "docker-compose.secrets.yml"
    assert m.secrets_dir == "secrets"
    assert m.secrets_gid == 10500
    hmac = m.secrets["titan_hmac_secret"]
    assert (hmac.kind, hmac.bytes, hmac.rotation, hmac.generate) == ("hex", 32, "hmac", True)
    assert hmac.consumers == (
        Consumer("titan-brain", "TITAN_HMAC_SECRET_PRIMARY_FILE", "signer"),
        Consumer("titan-execution", "TITAN_HMAC_SECRET_PRIMARY_FILE", "listener"),
        Consumer("titan-sentinel", "TITAN_HMAC_SECRET_PRIMARY_FILE", "listener"),
    )
    assert m.secrets["titan_db_password"].consumer("postgres") == Consumer(
        "postgres", "POSTGRES_PASSWORD_FILE"
    )
    assert m.secrets["grafana_admin_password"].consumers == (
        Consumer("grafana", "GF_SECURITY_ADMIN_PASSWORD__FILE"),
    )
    for name in ("titan_db_password", "grafana_admin_password"):
        assert (m.secrets[name].kind, m.secrets[name].min_length) == ("password", 24)
    api = [s for s in m.secrets.values() if s.kind == "api-key"]
    assert {s.name for s in api} == {
        "binance_api_key",
        "binance_api_secret",
        "bybit_api_key",
        "bybit_api_secret",
        "gemini_api_key",
    }
    assert all(not s.generate for s in api)
    assert m.groups() == {
        "binance": ["binance_api_key", "binance_api_secret"],
        "bybit": ["bybit_api_key", "bybit_api_secret"],
    }
    assert m.services == [
        "postgres",
        "titan-brain",
        "titan-execution",
        "titan-sentinel",
        "titan-scavenger",
        "titan-ai-quant",
        "redis",
        "grafana",
        "titan-hunter",
        "nats",
    ]
    assert [s.name for s in m.secrets_of("titan-ai-quant")] == [
        "binance_api_key",
        "binance_api_secret",
        "bybit_api_key",
        "bybit_api_secret",
        "gemini_api_key",
        "nats_user",
        "nats_password",
    ]


def test_defaults() -> None:
    m = parse_manifest_text("version: 1\nsecrets:\n  k: {kind: api-key}\n")
    assert m.compose_files == ("docker-compose.prod.yml",)
    assert (m.overlay, m.secrets_dir, m.state_dir, m.secrets_gid) == (
        "docker-compose.secrets.yml",
        "secrets",
        ".titan-deploy",
        None,
    )
    spec = m.secrets["k"]
    assert (spec.min_length, spec.max_length, spec.rotation, spec.generate) == (
        8,
        4096,
        "restart",
        False,
    )
    assert spec.consumers == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "m.yml:1: (top level): the manifest must be a mapping with `version` and `secrets`"),
        ("secrets: {k: {kind: text}}\n", "m.yml:1: (top level): missing required key `version`"),
        (
            "version: 1\nsecrets: {k: {kind: text}}\nextra: 1\n",
            "m.yml:3: extra: unknown key (allowed: auth_guard, backend, backup, compose_files, "
            "configs, deploy, example_dir, overlay, secrets, secrets_dir, secrets_gid, state_dir, "
            "version, waivers)",
        ),
        ("version: 1\nsecrets: {}\n", "m.yml:2: secrets: must define at least one secret"),
        (
            "version: 1\ncompose_files: []\nsecrets: {k: {kind: text}}\n",
            "m.yml:2: compose_files: must list at least one compose file",
        ),
        (
            "version: 1\ncompose_files: [a.yml, /etc/b.yml]\nsecrets: {k: {kind: text}}\n",
            "m.yml:2: compose_files[1]: must be a path inside the project directory",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: secret\n",
            "m.yml:4: secrets.k.kind: should be one of password, hex, token, api-key, text, pem",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: password\n    min_length: 30\n"
            "    max_length: 20\n",
            "m.yml:5: secrets.k.min_length: need 1 <= min_length <= max_length <= 511999 "
            "(Docker's 500 KiB secret limit)",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: hex\n    bytes: 4\n",
            "m.yml:5: secrets.k.bytes: only for kind hex, between 8 and 1024",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: password\n    bytes: 16\n",
            "m.yml:5: secrets.k.bytes: only for kind hex, between 8 and 1024",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: text\n    consumers: [a, b]\n",
            "m.yml:5: secrets.k.consumers: should be a mapping",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      a: {env: A, x: 1}\n",
            "m.yml:6: secrets.k.consumers.a.x: unknown key "
            "(allowed: env, proof, reload, role, target)",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      a: 5\n",
            "m.yml:6: secrets.k.consumers.a: must be an env var name, a list of them, or "
            "{env: NAME, target: PATH, role: signer|listener}",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      a: {role: x}\n",
            "m.yml:6: secrets.k.consumers.a: missing required key `env` "
            "(or `target`: the path the service reads)",
        ),
        (
            "version: 1\nsecrets:\n  " + "k" * 64 + ": {kind: text}\n",
            "m.yml:3: secrets." + "k" * 64 + ": secret name is longer than 63 characters",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: api-key, group: -binance}\n",
            "m.yml:3: secrets.k.group: group must match [A-Za-z0-9][A-Za-z0-9_.-]*",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, secondary_env: K2_FILE}\n",
            "m.yml:3: secrets.k.secondary_env: only for rotation: hmac",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: hex\n    bytes: 32\n    rotation: hmac\n"
            "    secondary_env: K2_FILE\n    consumers:\n      a: {env: K_FILE, role: signer}\n",
            "m.yml:8: secrets.k.consumers: hmac rotation needs a signer and a listener",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: hex\n    bytes: 32\n    rotation: hmac\n"
            "    consumers:\n      a: {env: K_FILE, role: signer}\n"
            "      b: {env: K_FILE, role: listener}\n",
            "m.yml:6: secrets.k.rotation: hmac rotation needs `secondary_env`",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, finish_after_hours: true}\n",
            "m.yml:3: secrets.k.finish_after_hours: should be a number",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, generate: 'yes'}\n",
            "m.yml:3: secrets.k.generate: should be true or false",
        ),
        (
            "version: 1\nsecrets_dir: '$HOME/s'\nsecrets: {k: {kind: text}}\n",
            "m.yml:2: secrets_dir: use printable characters (none beyond U+FFFF) and no `$`",
        ),
        (
            'version: 1\nsecrets_dir: "s\\tx"\nsecrets: {k: {kind: text}}\n',
            "m.yml:2: secrets_dir: use printable characters (none beyond U+FFFF) and no `$`",
        ),
        (
            'version: 1\nsecrets_dir: "\\U0001F511"\nsecrets: {k: {kind: text}}\n',
            "m.yml:2: secrets_dir: use printable characters (none beyond U+FFFF) and no `$`",
        ),
        (
            "version: 1\nstate_dir: ''\nsecrets: {k: {kind: text}}\n",
            "m.yml:2: state_dir: should be a relative path",
        ),
        (
            "version: 1\nsecrets_gid: 2147483648\nsecrets: {k: {kind: text}}\n",
            "m.yml:2: secrets_gid: must be a group id between 1 and 2147483647",
        ),
        (
            "version: 1\nsecrets:\n  a: {kind: text, consumers: {app: X_FILE}}\n"
            "  b: {kind: text, consumers: {app: X_FILE}}\n",
            "m.yml:4: secrets.b.consumers.app: app already gets X_FILE from secret a",
        ),
        (
            "version: 1\nsecrets:\n  k:\n    kind: hex\n    bytes: 32\n    rotation: hmac\n"
            "    secondary_env: K_FILE\n    consumers:\n      a: {env: K_FILE, role: signer}\n"
            "      b: {env: K_FILE, role: listener}\n",
            "m.yml:10: secrets.k.consumers.b: b already gets K_FILE from secret k",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text}\n  k: {kind: hex}\n",
            "m.yml:4: secrets.k: duplicate key",
        ),
        ("version: 1\nsecrets:\n  ? [a]\n  : 1\n", "m.yml:3: secrets: keys must be strings"),
        (
            "version: 1\nsecrets:\n  k: {kind: text, description: 2001-13-45}\n",
            "m.yml:3: secrets.k.description: cannot read value: not a valid timestamp",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, min_length: !!int Zq3vN8wLr2Tb6YhK}\n",
            "m.yml:3: secrets.k.min_length: cannot read value: not a valid int",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, description: !!python/name:os.system ''}\n",
            # the tag is text of the file: never quoted (a secret passed as a manifest could
            # start with `!`)
            "m.yml:3: secrets.k.description: cannot read value: could not determine a "
            "constructor for the tag",
        ),
    ],
)
def test_exact_error_strings(text: str, message: str) -> None:
    assert error_of(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nsecrets:\n  a: {kind: text}\n  a.v1: {kind: text}\n",
            "m.yml:4: secrets.a.v1: collides with version 1 of secret a",
        ),
        (
            "version: 1\nsecrets:\n  a_v1: {kind: text}\n  a: {kind: text}\n",
            "m.yml:3: secrets.a_v1: collides with version 1 of secret a",
        ),
        (
            "version: 1\nsecrets:\n  app.vault_token: {kind: text}\n"
            "  app.vault_token.v12: {kind: text}\n",
            "m.yml:4: secrets.app.vault_token.v12: collides with version 12 of secret "
            "app.vault_token",
        ),
        (
            "version: 1\nsecrets:\n  a: {kind: text}\n  a.v007: {kind: text}\n",
            "m.yml:4: secrets.a.v007: collides with version 007 of secret a",
        ),
        (
            "version: 1\nsecrets:\n  h: {kind: text}\n  h.previous: {kind: text}\n",
            "m.yml:4: secrets.h.previous: collides with the previous-key mount of secret h",
        ),
    ],
)
def test_a_name_that_collides_with_another_secrets_versions_is_refused(
    text: str, message: str
) -> None:
    got = error_of(text)
    assert got.startswith(message), got
    assert got.endswith("(rename it: NAME.vN, NAME_vN and NAME.previous are taken by rotation)")


@pytest.mark.parametrize(
    "names",
    [
        ["app", "app.vault_token"],  # `.v` inside a name is fine
        ["a", "a.v1x", "a_vault", "a.version"],
        ["a.v1"],  # the shape alone is fine: there is no `a`
        ["db", "db_v", "db.v"],
    ],
)
def test_names_with_v_that_collide_with_nothing_are_accepted(names: list[str]) -> None:
    body = "".join(f"  {n}: {{kind: text}}\n" for n in names)
    m = parse_manifest_text("version: 1\nsecrets:\n" + body)
    assert list(m.secrets) == names


def test_kind_pem_and_multiline_text() -> None:
    m = parse_manifest_text(
        "version: 1\nsecrets:\n  key: {kind: pem}\n  conf: {kind: text, multiline: true}\n"
        "  one: {kind: text}\n"
    )
    key, conf, one = (m.secrets[n] for n in ("key", "conf", "one"))
    assert (key.kind, key.multiline, key.is_multiline, key.max_length) == (
        "pem",
        False,
        True,
        511_999,
    )
    assert (conf.multiline, conf.is_multiline) == (True, True)
    assert (one.multiline, one.is_multiline) == (False, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nsecrets:\n  k: {kind: pem, multiline: true}\n",
            "m.yml:3: secrets.k.multiline: only for kind text (kind pem is multi-line)",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: text, multiline: 'yes'}\n",
            "m.yml:3: secrets.k.multiline: should be true or false",
        ),
        (
            "version: 1\nsecrets:\n  k: {kind: pem, generate: true}\n",
            "m.yml:3: secrets.k.generate: kind pem cannot be generated",
        ),
        (
            "version: 1\nexample_dir: /etc/x\nsecrets:\n  k: {kind: pem}\n",
            "m.yml:2: example_dir: must be a path inside the project directory",
        ),
    ],
)
def test_pem_multiline_and_example_dir_errors(text: str, message: str) -> None:
    assert error_of(text) == message


def test_example_dir_default_and_configured() -> None:
    assert parse_manifest_text("version: 1\nsecrets: {k: {kind: pem}}\n").example_dir == (
        "secrets.example"
    )
    m = parse_manifest_text("version: 1\nexample_dir: docs/ex\nsecrets: {k: {kind: pem}}\n")
    assert m.example_dir == "docs/ex"


def test_one_service_may_use_one_env_name_for_different_services() -> None:
    m = parse_manifest_text(
        "version: 1\nsecrets:\n  a: {kind: text, consumers: {x: A_FILE, y: A_FILE}}\n"
        "  b: {kind: text, consumers: {x: B_FILE, y: A2_FILE}}\n"
    )
    assert m.services == ["x", "y"]


def test_yaml_merge_keys_and_anchors_are_resolved() -> None:
    m = parse_manifest_text(
        "version: 1\n"
        "secrets:\n"
        "  a: &base {kind: api-key, rotation: restart}\n"
        "  b:\n"
        "    <<: *base\n"
        "    consumers: {s: B_FILE}\n"
    )
    assert m.secrets["b"].kind == "api-key"
    assert m.secrets["b"].consumers == (Consumer("s", "B_FILE"),)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_manifest(tmp_path / "nope.yml", display="nope.yml")
    assert str(caught.value) == "nope.yml: file not found"


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_bytes(b"version: 1\nsecrets: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_manifest(tmp_path / "m.yml", display="m.yml")
    assert str(caught.value) == "m.yml:2: not UTF-8 text"


def test_lines_and_key_paths() -> None:
    doc = load_located("a:\n  b:\n    - x\n    - c: 1\n", "f.yml")
    assert doc.line(("a", "b", 1, "c")) == 4
    assert doc.line(("a", "b", 0)) == 3
    assert doc.line(("a", "nope")) == 1
    assert format_path(("secrets", "k", "consumers", 0, "env")) == "secrets.k.consumers[0].env"
    assert str(doc.error(("a", "b"), "boom")) == "f.yml:2: a.b: boom"


@pytest.mark.parametrize("hours", [".nan", ".inf", "-.inf", "-1", "87601"])
def test_finish_after_hours_must_be_a_finite_number_of_hours(hours: str) -> None:
    """`.nan` made every `rotate status` an internal error; `-1` allowed phase 2 at once."""
    text = (
        "version: 1\nsecrets:\n  k:\n    kind: hex\n    bytes: 32\n    rotation: hmac\n"
        f"    finish_after_hours: {hours}\n"
        "    consumers: {a: {env: K_FILE, role: signer}, b: {env: K_FILE, role: listener}}\n"
    )
    with pytest.raises(ConfigError, match=r":7: secrets\.k\.finish_after_hours: must be"):
        parse_manifest_text(text)
