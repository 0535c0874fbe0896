"""The manifest JSON Schema (core/schema.py, README "Manifest schema"): generated from the
parser's tables, shipped current, and giving the validator's verdict on every corpus manifest
(those whose fault the schema can express; the rest are listed with the reason)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema  # a test dependency (pyproject [test]): never skipped
import pytest

from tests.paths import PACKAGE, REPO
from titan_deploy.core import manifest as m
from titan_deploy.core import manifest_keys as keys
from titan_deploy.core import waivers as w
from titan_deploy.core.schema import PROPERTIES, manifest_schema, schema_json
from titan_deploy.core.yamlpos import load_located
from titan_deploy.errors import ConfigError

SHIPPED = PACKAGE / "schema" / "manifest.schema.json"
CORPUS = Path(__file__).resolve().parent / "corpus"
VALID = [REPO / "secrets.manifest.yml", REPO / "tests" / "golden" / "small.manifest.yml"]

# Corpus files whose fault only the validator sees (core/schema.py VALIDATOR_ONLY), by why.
NOT_DATA = "not YAML data (syntax, tabs, duplicate or non-string keys, unreadable scalars)"
VALIDATOR_ONLY = {
    "01_bad_yaml_syntax": NOT_DATA,
    "02_tab_indentation": NOT_DATA,
    "18_duplicate_key": NOT_DATA,
    "25_null_secret_name": NOT_DATA,
    "27_invalid_timestamp": NOT_DATA,
    "29_bad_int_tag": NOT_DATA,
    "14_bad_regex_pattern": "RE2 compiles regexes",
    "15_bad_regex_verify_log": "RE2 compiles regexes",
    "23_env_var_twice_for_a_service": "a rule across secrets",
    "30_name_is_a_version_file": "a rule across secrets",
    "31_name_is_a_compose_version": "a rule across secrets",
    "36_env_of_list_clashes": "a rule across secrets",
    "42_two_secrets_one_target": "a rule across secrets",
    "43_two_secrets_one_file": "a rule across secrets",
    "49_unquoted_date_as_description": "a date to YAML 1.1, text to an editor's YAML 1.2",
    "64_recipient_bad_checksum": "a bech32 checksum",
    "47_config_input_not_a_secret": "a rule across secrets and configs",
    "48_config_named_like_a_secret": "a rule across secrets and configs",
    "73_guard_settle_on_a_failure_counter": "a rule across the guard's counters",
}


def schema_verdict(path: Path) -> bool | None:
    """Whether the schema accepts the manifest (None: the document is not data the schema could
    see: YAML the tool's loader refuses)."""
    try:
        doc = load_located(path.read_text(encoding="utf-8"), path.name).value
    except ConfigError:
        return None
    validator = jsonschema.Draft7Validator(manifest_schema())
    return not list(validator.iter_errors(_jsonable(doc)))


def validator_verdict(path: Path) -> bool:
    try:
        m.load_manifest(path)
    except ConfigError:
        return False
    return True


def _jsonable(value: Any) -> Any:
    """YAML data as JSON (and an editor) would see it: a date as its ISO text; any other
    scalar as it is (the schema rejects a wrong one by type)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.date):  # an unquoted date: a string to an editor's schema
        return value.isoformat()
    return value


def test_the_shipped_schema_is_current() -> None:
    """Fails when the parser's tables changed and the shipped copy was not regenerated."""
    assert SHIPPED.read_text(encoding="utf-8") == schema_json(), (
        "regenerate: titan-deploy schema > titan_deploy/schema/manifest.schema.json"
    )


def test_the_schema_is_a_valid_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(manifest_schema())


@pytest.mark.parametrize(
    ("section", "table"),
    [
        ("top", "TOP_KEYS"),
        ("secret", "SECRET_KEYS"),
        ("config", "CONFIG_KEYS"),
        ("consumer", "CONSUMER_KEYS"),
        ("provision", "PROVISION_KEYS"),
        ("auth_guard", "AUTH_GUARD_KEYS"),
        ("waiver", "WAIVER_KEYS"),
        ("backup", "BACKUP_KEYS"),
    ],
)
def test_every_key_the_parser_accepts_is_typed(section: str, table: str) -> None:
    """A key added to the parser appears in the schema by itself; this says it needs a type."""
    owner = w if section == "waiver" else keys
    untyped = set(getattr(owner, table)) - set(PROPERTIES[section])
    assert not untyped, f"give {sorted(untyped)} a type in core/schema.py PROPERTIES[{section!r}]"


def test_new_parser_keys_show_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "SECRET_KEYS", {*keys.SECRET_KEYS, "brand_new"})
    secret = manifest_schema()["definitions"]["secret"]
    assert "brand_new" in secret["properties"]


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_manifests_pass_both(path: Path) -> None:
    assert validator_verdict(path) is True
    assert schema_verdict(path) is True


CORPUS_FILES = sorted(CORPUS.glob("*.yml"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.stem for p in CORPUS_FILES])
def test_schema_and_validator_agree_on_the_corpus(path: Path) -> None:
    assert validator_verdict(path) is False  # every corpus file is broken
    verdict = schema_verdict(path)
    why = VALIDATOR_ONLY.get(path.stem)
    if why is None:
        assert verdict is False, f"{path.name}: the schema accepts what the validator refuses"
    elif why == NOT_DATA:
        assert verdict is None, f"{path.name}: loads as data; drop it from VALIDATOR_ONLY"
    else:
        assert verdict is True, f"{path.name}: the schema now rejects it; drop it from the list"


def test_the_manifest_names_its_schema() -> None:
    first = (REPO / "secrets.manifest.yml").read_text(encoding="utf-8").splitlines()[0]
    assert first == ("# yaml-language-server: $schema=titan_deploy/schema/manifest.schema.json")
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"


RICH = """\
version: 1
secrets:
  Api_Token:
    kind: token
    file: api/token.txt
    consumers:
      web: {env: [API_TOKEN_FILE, Legacy_Token_File]}
      worker: {target: /etc/app/token}
  app_user:
    sensitive: false
    consumers: {db: {target: app_user}}
  hmac_key:
    kind: hex
    bytes: 32
    rotation: hmac
    secondary_env: HMAC_SECONDARY_FILE
    consumers:
      web: {env: HMAC_FILE, role: signer}
      worker: {env: HMAC_FILE, role: listener}
backup:
  recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
waivers:
  - {code: L004, secret: app_user, reason: read by a sidecar, expires: 2030-01-31}
  - {code: S009, file: secrets/api/token.txt, reason: "shared volume, reviewed"}
"""


def test_a_manifest_with_every_new_section_passes_both(tmp_path: Path) -> None:
    path = tmp_path / "secrets.manifest.yml"
    path.write_text(RICH)
    assert validator_verdict(path) is True
    assert schema_verdict(path) is True


INTEGRAL = RICH.replace("bytes: 32", "bytes: 32.0").replace(
    "kind: token\n", "kind: token\n    max_age_days: 90.0\n    min_length: 10.0\n"
)


def test_integral_floats_pass_both_as_integers(tmp_path: Path) -> None:
    """The one rule of both (README "Manifest schema"): an integer key takes `32.0` as 32."""
    path = tmp_path / "secrets.manifest.yml"
    path.write_text(INTEGRAL)
    assert "32.0" in INTEGRAL and "90.0" in INTEGRAL
    assert validator_verdict(path) is True
    assert schema_verdict(path) is True
    spec = m.load_manifest(path).secrets["Api_Token"]
    assert (spec.max_age_days, type(spec.max_age_days)) == (90, int)
