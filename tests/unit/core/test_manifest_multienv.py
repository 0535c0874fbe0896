"""A consumer that reads one secret under several env names (issue 10 item 1, first bullet):
`env: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]`. The manifest accepts it, the overlay points
every name at the one mount, verify and lint expect every name. Broken spellings are in the
corpus (tests/unit/core/corpus/33_* .. 36_*)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from tests.unit.core import test_verify as tv
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import ServicePlan, plan_overlay, render_overlay
from titan_deploy.core.verify import verify
from titan_deploy.errors import ConfigError

MANIFEST = """\
version: 1
secrets:
  titan_db_password:
    kind: password
    consumers:
      postgres: POSTGRES_PASSWORD_FILE
      titan-brain: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]
      titan-sentinel: {env: [DB_PASSWORD_FILE]}
"""


def test_a_list_of_env_names_parses_primary_first() -> None:
    spec = parse_manifest_text(MANIFEST).secrets["titan_db_password"]
    brain = spec.consumer("titan-brain")
    assert brain is not None
    assert brain.env == "TITAN_DB_PASSWORD_FILE"
    assert brain.envs == ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    sentinel = spec.consumer("titan-sentinel")
    assert sentinel is not None and sentinel.envs == ("DB_PASSWORD_FILE",)
    postgres = spec.consumer("postgres")
    assert postgres is not None and postgres.also == ()


def test_the_overlay_points_every_name_at_one_mount() -> None:
    text = render_overlay(plan_overlay(parse_manifest_text(MANIFEST)))
    brain = yaml.safe_load(text)["services"]["titan-brain"]
    assert brain["environment"] == {
        "TITAN_DB_PASSWORD_FILE": "/run/secrets/titan_db_password",
        "DB_PASSWORD_FILE": "/run/secrets/titan_db_password",
    }
    assert brain["secrets"] == [{"source": "titan_db_password", "target": "titan_db_password"}]


def test_an_env_name_of_a_list_still_clashes_with_another_secret() -> None:
    text = MANIFEST + (
        "  other:\n    kind: password\n    consumers:\n      titan-brain: DB_PASSWORD_FILE\n"
    )
    with pytest.raises(ConfigError, match="titan-brain already gets DB_PASSWORD_FILE"):
        parse_manifest_text(text)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("[]", "must name at least one env var"),
        ("[A_FILE, A_FILE]", "A_FILE is listed twice"),
        ("[A_FILE, 5]", "must be an env var name"),
        ("{env: [A_FILE, bad-name]}", "consumers.app.env[1]"),
        ("{env: {a: b}}", "should be a string or a list of strings"),
    ],
)
def test_a_bad_list_is_a_config_error(entry: str, message: str) -> None:
    text = f"version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      app: {entry}\n"
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_manifest_text(text, "m.yml")


def _two_name_facts(env: dict[str, str]):
    """test_verify's facts, its db_password mount read under two names."""
    db = replace(tv.DB, also=("TITAN_DB_PASSWORD_FILE",))
    plan = replace(tv.PLAN, services=(ServicePlan("app", (tv.MOUNT, db)),))
    info = tv.container(env={"API_TOKEN_FILE": tv.PATH, **env})
    return replace(tv.facts(info), plan=plan)


def test_verify_expects_every_env_name() -> None:
    path = tv.DB.container_path
    _, findings = verify(
        _two_name_facts({"DB_PASSWORD_FILE": path, "TITAN_DB_PASSWORD_FILE": path})
    )
    assert not [f for f in findings if f.severity == "error"], [f.message for f in findings]
    _, findings = verify(_two_name_facts({"DB_PASSWORD_FILE": path}))
    errors = [f for f in findings if f.severity == "error"]
    assert [f.code for f in errors] == ["V004"]
    assert "TITAN_DB_PASSWORD_FILE does not point at" in errors[0].message
