"""The manifest's JSON Schema and its validator give the same verdict (README "Manifest schema"),
beyond the corpus: a property test puts every kind of YAML scalar and collection (integral floats
such as `max_age_days: 1.0`, booleans where integers go, `.nan`, dates, strings of digits, lists,
mappings, ...) at every key of a manifest that uses every key, writes it as YAML, and asks both.
Where they differ, the validator's reason must be one of the rules only it checks
(core/schema.py VALIDATOR_ONLY); anything else is a disagreement to fix in one of the two."""

from __future__ import annotations

import copy
import datetime
import math
from typing import Any

import jsonschema  # a test dependency (pyproject [test]): never skipped
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.unit.core.test_schema import _jsonable
from titan_deploy.core import manifest as m
from titan_deploy.core.schema import manifest_schema
from titan_deploy.core.yamlpos import KeyPath, load_located
from titan_deploy.errors import ConfigError

AGE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

# A manifest that sets every key the schema types (each section, each secret key).
BASE: dict[str, Any] = {
    "version": 1,
    "compose_files": ["docker-compose.yml"],
    "overlay": "docker-compose.secrets.yml",
    "secrets_dir": "secrets",
    "state_dir": ".titan-deploy",
    "example_dir": "secrets.example",
    "secrets_gid": 10500,
    "auth_guard": {
        "metric": "auth_failures_total",
        "threshold": 0,
        "endpoints": {"web": "http://127.0.0.1:3000/metrics"},
    },
    "secrets": {
        "db": {
            "description": "the database password",
            "kind": "password",
            "min_length": 20,
            "max_length": 64,
            "generate": True,
            "rotation": "rolling",
            "max_age_days": 90,
            "file": "db/password",
            "sensitive": True,
            "pattern": "^[a-z]+$",
            "verify_log": "connected",
            "provision": {"kind": "postgres", "service": "db", "role": "app"},
            "consumers": {
                "db": "POSTGRES_PASSWORD_FILE",
                "web": {"env": ["DB_PASSWORD_FILE", "DB_FILE"], "target": "/etc/app/db"},
            },
        },
        "hmac": {
            "kind": "hex",
            "bytes": 32,
            "multiline": False,
            "rotation": "hmac",
            "secondary_env": "HMAC_SECONDARY_FILE",
            "key_id_env": "HMAC_KEY_ID",
            "finish_after_hours": 24,
            "consumers": {
                "web": {"env": "HMAC_FILE", "role": "signer"},
                "worker": {"env": "HMAC_FILE", "role": "listener"},
            },
        },
        "notes": {"kind": "text", "multiline": True, "group": "ex", "consumers": {"web": "N_FILE"}},
        "app_user": {"sensitive": False, "consumers": {"db": {"target": "app_user"}}},
    },
    "backup": {"recipients": [AGE]},
    "waivers": [
        {"code": "L004", "secret": "db", "reason": "read by a sidecar", "expires": "2030-01-31"},
        {"code": "S009", "file": "secrets/db/password", "reason": "shared volume"},
    ],
}

# What only the validator checks (core/schema.py VALIDATOR_ONLY), as the words of its message.
VALIDATOR_ONLY_MESSAGES = (
    "not a valid RE2 regular expression",  # pattern, verify_log
    "need 1 <= min_length <= max_length",
    "must be one of this secret's consumers",  # provision.service
    "hmac rotation needs a signer and a listener",
    "render would overwrite",  # the overlay against the other paths
    "is already the file of secret",  # rules across secrets
    "collides with",
    "is a directory of secret",
    "must be a number of hours",  # finish_after_hours .nan / .inf (finite)
    "use printable characters",  # a path: the schema refuses control characters only
    "name (printable, one line)",  # a waiver's scope: likewise
    "an unquoted date as a date",  # YAML 1.1 reads a date; an editor's YAML 1.2 reads text
    "bech32 checksum",  # an age recipient's checksum (the schema has its alphabet and length)
    "already mounts secret",  # one target per service
    "already gets",  # one env var per file per service
    "the overlay would set it twice",  # key_id_env naming nothing else
)


def _paths(value: Any, path: KeyPath = ()) -> list[KeyPath]:
    """Every key path in `value` (mappings and lists), containers included."""
    out: list[KeyPath] = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


PATHS = _paths(BASE)

SCALARS = [
    0,
    1,
    -1,
    8,
    24,
    32,
    1024,
    1025,
    36500,
    36501,
    2**31 - 1,
    2**31,
    1.0,
    32.0,
    90.0,
    24.0,
    0.0,
    -0.0,
    1.5,
    1e3,
    1e300,
    math.nan,
    math.inf,
    True,
    False,
    None,
    "",
    "1",
    "32",
    "true",
    "x",
    "web",
    "HMAC_FILE",
    "password",
    "hmac",
    "signer",
    AGE,
    "http://127.0.0.1:3000/metrics",
    "2030-01-31",
    datetime.date(2030, 1, 31),
    [],
    ["x"],
    [1],
    {},
    {"env": "X_FILE"},
]
VALUES = st.one_of(
    st.sampled_from(SCALARS),
    st.integers(min_value=-(2**33), max_value=2**33),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=6),
)


def _set(doc: dict[str, Any], path: KeyPath, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return out


def verdicts(doc: dict[str, Any]) -> tuple[str | None, bool]:
    """(the validator's refusal, None when it accepts; whether the schema accepts), both of the
    document written as YAML and read back as the tool reads it."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    try:
        m.parse_manifest_text(text)
        refusal = None
    except ConfigError as exc:
        refusal = str(exc)
    data = _jsonable(load_located(text, "secrets.manifest.yml").value)
    accepted = jsonschema.Draft7Validator(manifest_schema()).is_valid(data)
    return refusal, accepted


def assert_agree(doc: dict[str, Any]) -> None:
    refusal, accepted = verdicts(doc)
    if refusal is None:
        assert accepted, "the validator accepts what the schema refuses"
    elif accepted:
        assert any(words in refusal for words in VALIDATOR_ONLY_MESSAGES), (
            f"the schema accepts what the validator refuses, for a reason it could say: {refusal}"
        )


def test_the_base_manifest_passes_both() -> None:
    assert verdicts(BASE) == (None, True)


@pytest.mark.parametrize(
    ("path", "value", "valid"),
    [
        (("secrets", "db", "max_age_days"), 1.0, True),
        (("secrets", "db", "max_age_days"), 90.0, True),
        (("secrets", "db", "max_age_days"), 1.5, False),
        (("secrets", "db", "max_age_days"), True, False),
        (("secrets", "hmac", "bytes"), 32.0, True),
        (("secrets", "hmac", "bytes"), False, False),
        (("secrets_gid",), 10500.0, True),
        (("secrets_gid",), True, False),
        (("version",), 1.0, True),
        (("version",), True, False),
        (("auth_guard", "threshold"), 0.0, True),
        (("auth_guard", "threshold"), False, False),
        (("secrets", "db", "min_length"), 1e3, False),  # 1000 > max_length 64 (validator only)
        (("secrets", "db", "max_length"), 64.0, True),
        (("secrets", "hmac", "finish_after_hours"), True, False),
        (("secrets", "hmac", "finish_after_hours"), 1.5, True),
    ],
)
def test_integral_floats_are_integers_and_booleans_are_not(
    path: KeyPath, value: Any, valid: bool
) -> None:
    """The one rule, in both: an integer key takes a YAML int or a float with no fractional
    part (`1.0`: JSON Schema's `integer`, what an editor sees), read as that int; never a
    boolean (`true` is no 1) nor a fractional number."""
    doc = _set(BASE, path, value)
    refusal, _ = verdicts(doc)
    assert (refusal is None) is valid, refusal
    assert_agree(doc)
    if valid:
        manifest = m.parse_manifest_text(yaml.safe_dump(doc, sort_keys=False))
        if path[-1] == "max_age_days":
            assert manifest.secrets["db"].max_age_days == int(value)
            assert type(manifest.secrets["db"].max_age_days) is int
        if path[-1] == "secrets_gid":
            assert type(manifest.secrets_gid) is int


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=VALUES)
@example(path=("secrets", "db", "max_age_days"), value=1.0)
@example(path=("secrets", "hmac", "bytes"), value=True)
@example(path=("backup", "recipients", 0), value=AGE[:-1] + "q")
def test_schema_and_validator_agree_on_any_value_at_any_key(path: KeyPath, value: Any) -> None:
    assert_agree(_set(BASE, path, value))
