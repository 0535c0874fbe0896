"""Issue 10 item 2: the overlay takes a base file's plain `X` out where the consumer now gets
`X_FILE`, replaces the base's `secrets:` entries for a managed secret, and never copies a value
it does not know to be non-secret; the tool's own YAML reader accepts Compose's `!reset` and
`!override` (item 4)."""

from __future__ import annotations

import pytest
import yaml

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import base_compose, plan_overlay, render_overlay
from titan_deploy.core.yamlpos import load_located
from titan_deploy.errors import EXIT_CONFIG, ConfigError

MANIFEST = parse_manifest_text(
    """\
version: 1
secrets:
  db_password:
    kind: password
    consumers:
      db: POSTGRES_PASSWORD_FILE
      app: {env: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]}
  admin_password:
    kind: password
    consumers: {grafana: GF_SECURITY_ADMIN_PASSWORD__FILE}
"""
)

MAPPING_BASE = """\
services:
  db:
    image: postgres
    environment:
      POSTGRES_USER: titan
      POSTGRES_PASSWORD: plain-db-value
  grafana:
    image: grafana
    environment:
      GF_SECURITY_ADMIN_PASSWORD: plain-admin-value
      GF_SECURITY_ADMIN_USER: admin
"""

LIST_BASE = """\
services:
  app:
    image: app
    environment:
      - NODE_ENV=production
      - DB_PASSWORD=plain-app-value
      - TITAN_DB_PASSWORD=plain-app-value
      - PASSTHROUGH
    secrets:
      - db_password
      - source: unrelated
        target: /etc/unrelated
secrets:
  db_password:
    file: ./db/password.txt
  unrelated:
    file: ./unrelated.txt
"""


def overlay_for(*texts: str) -> dict:
    docs = [load_located(t, "compose.yml").value for t in texts]
    text = render_overlay(plan_overlay(MANIFEST, base=base_compose(docs)))
    assert "plain-" not in text  # no value of the base file ever reaches the overlay
    return load_located(text, "overlay").value, text


def test_mapping_form_resets_just_the_plain_names() -> None:
    doc, text = overlay_for(MAPPING_BASE)
    assert '"POSTGRES_PASSWORD": !reset null' in text
    assert '"GF_SECURITY_ADMIN_PASSWORD": !reset null' in text  # `X__FILE` replaces `X`
    # read by the tool, a reset key is unset; nothing else of the base is repeated
    assert doc["services"]["db"]["environment"] == {
        "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"
    }
    assert "POSTGRES_USER" not in text and "!override" not in text


def test_list_form_overrides_with_the_other_entries_and_no_plain_name() -> None:
    doc, text = overlay_for(LIST_BASE)
    env = doc["services"]["app"]["environment"]
    assert env == {
        "NODE_ENV": "production",
        "PASSTHROUGH": None,
        "TITAN_DB_PASSWORD_FILE": "/run/secrets/db_password",
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
    }
    assert "environment: !override" in text


def test_base_secret_entries_of_a_managed_secret_are_replaced() -> None:
    doc, text = overlay_for(LIST_BASE)
    assert "secrets: !override" in text
    assert doc["services"]["app"]["secrets"] == [
        {"source": "unrelated", "target": "/etc/unrelated"},
        {"source": "db_password", "target": "db_password"},
    ]
    # the git-tracked ./db/password.txt is no longer the source: the manifest's file is
    assert doc["secrets"]["db_password"] == {"file": "./secrets/db_password"}
    assert "unrelated" not in doc["secrets"]


def test_no_base_no_change() -> None:
    assert render_overlay(plan_overlay(MANIFEST)) == render_overlay(
        plan_overlay(MANIFEST, base=base_compose([{"services": {"db": {"image": "x"}}}]))
    )


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  a:\n    environment:\n      X: !reset null\n",
        "services:\n  a:\n    environment: !reset {}\n    image: x\n",
        "services:\n  a:\n    ports: !reset []\n    image: x\n",
        "services:\n  a: !override\n    image: x\n",
        "services:\n  a:\n    image: !override x\n    command: !override [a]\n",
        "services:\n  a:\n    image: x\n    dns: [!reset 1.1.1.1]\n",
        "secrets: !reset\nservices: {}\n",
    ],
)
def test_the_yaml_reader_accepts_compose_merge_tags(text: str) -> None:
    value = load_located(text, "compose.yml").value
    assert value  # no ConfigError (it used to exit 2)
    services = value.get("services") or {}
    for body in services.values():
        assert "X" not in (body.get("environment") or {})
        assert "environment" not in body or body["environment"] is not None


def test_override_scalars_keep_their_yaml_types() -> None:
    value = load_located('a: !override 3\nb: !override "3"\nc: !override\n', "f").value
    assert value == {"a": 3, "b": "3", "c": None}
    assert yaml  # the module is the standard PyYAML


@pytest.mark.parametrize(
    "entry", ["REDIS_PASSWORD=plain-other", "CACHE_URL=redis://u:plain-pw@cache:6379/0"]
)
def test_list_form_never_copies_a_secret_looking_entry(entry: str) -> None:
    base = LIST_BASE.replace("      - PASSTHROUGH\n", f"      - PASSTHROUGH\n      - {entry}\n")
    with pytest.raises(ConfigError) as info:
        overlay_for(base)
    assert "plain-" not in str(info.value)
    assert info.value.exit_code == EXIT_CONFIG


def test_a_service_with_no_environment_entry_gets_no_null_environment() -> None:
    """A target-only consumer: no `environment:` key; one whose base list is overridden to
    nothing: `!override {}` (a bare `environment:` is null: "must be a mapping")."""
    from titan_deploy.core.overlay import Mount, OverlayPlan, ServicePlan

    mount = Mount("cert", "cert", None, "/etc/app/cert", None)
    for keep, expect in ((None, None), ((), {})):
        plan = OverlayPlan((ServicePlan("web", (mount,), keep_env=keep),), (("cert", "x/cert"),))
        doc = load_located(render_overlay(plan), "overlay").value
        assert doc["services"]["web"].get("environment", None) == expect
        assert doc["services"]["web"]["secrets"] == [{"source": "cert", "target": "/etc/app/cert"}]
