"""Issue 10 item 4: a base file's top-level secret of a managed name — `external: true`,
`environment: VAR` or a `file:` elsewhere — is replaced WHOLE by the overlay (`!override`): a
plain merge would keep `external` (Compose then looks for a Swarm secret) or add `file:` beside
`environment:` (Compose refuses: mutually exclusive). Real Compose's merge of it is in
tests/integration/test_compose_features_engine.py."""

from __future__ import annotations

import pytest

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import base_compose, plan_overlay, render_overlay
from titan_deploy.core.yamlpos import load_located

MANIFEST = parse_manifest_text(
    """\
version: 1
secrets:
  db_password:
    kind: password
    consumers: {app: DB_PASSWORD_FILE}
"""
)


def rendered(base: str) -> str:
    doc = load_located(base, "compose.yml").value
    return render_overlay(plan_overlay(MANIFEST, base=base_compose([doc])))


@pytest.mark.parametrize(
    "entry",
    ["external: true", "environment: DB_PASSWORD_FROM_HOST", "file: ./db/password.txt"],
)
def test_a_base_declaration_is_replaced_whole(entry: str) -> None:
    base = f"services:\n  app: {{image: x}}\nsecrets:\n  db_password:\n    {entry}\n"
    text = rendered(base)
    assert '"db_password": !override\n    file: "./secrets/db_password"\n' in text
    merged = load_located(text, "overlay").value
    assert merged["secrets"] == {"db_password": {"file": "./secrets/db_password"}}


def test_an_unmanaged_base_secret_is_left_alone() -> None:
    base = "services:\n  app: {image: x}\nsecrets:\n  other:\n    external: true\n"
    text = rendered(base)
    assert "!override" not in text and '"other"' not in text


def test_without_a_base_declaration_no_override() -> None:
    assert "!override" not in rendered("services:\n  app: {image: x}\n")
