"""Issue 9.7 (--secrets-dir everywhere) and 9.8 (the size unit, the owner, git missing) through
the CLI: behaviour only, so each test also runs against a tool without the fix (and fails)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def findings(result) -> list[tuple[str, str, str]]:
    return [(f["code"], f["severity"], f["message"]) for f in json.loads(result.stdout)["findings"]]


def test_every_command_honours_secrets_dir(cli, ready_project: Path) -> None:
    """`--secrets-dir vault` for check-secrets, render (overlay sources) and the rotation's
    dry run; `up`/`verify` deploy that overlay (tests/integration/test_bounds_engine.py)."""
    (ready_project / "secrets").rename(ready_project / "vault")
    args = ["-C", ready_project, "--secrets-dir", "vault"]
    assert cli(*args, "check-secrets").exit_code == 0
    result = cli(*args, "render")
    assert result.exit_code == 0, result.output
    overlay = (ready_project / "docker-compose.secrets.yml").read_text()
    assert "./vault/titan_db_password" in overlay and "./secrets/" not in overlay
    assert cli(*args, "render", "--check").exit_code == 0
    assert cli("-C", ready_project, "render", "--check").exit_code == 1  # the manifest's dir
    dry = cli(*args, "--json", "rotate", "hmac", "--dry-run")
    assert dry.exit_code == 0, dry.output


def test_a_499_kib_text_secret_is_accepted(cli, ready_project: Path) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text()
        + "  tls_bundle:\n    kind: text\n    consumers: {titan-console: TLS_BUNDLE_FILE}\n"
    )
    path = ready_project / "secrets" / "tls_bundle"
    path.write_bytes(b"A" * (499 * 1024))
    os.chown(path, -1, 10500)
    os.chmod(path, 0o640)
    result = cli("-C", ready_project, "--json", "check-secrets")
    assert result.exit_code == 0, result.output
    path.write_bytes(b"A" * 512_000)
    result = cli("-C", ready_project, "--json", "check-secrets")
    assert result.exit_code == 1
    assert ("S008", "error") in {(code, sev) for code, sev, _ in findings(result)}
    assert "500 KiB" in result.stdout


def test_a_secret_owned_by_another_user_is_a_finding(cli, ready_project: Path) -> None:
    os.chown(ready_project / "secrets" / "gemini_api_key", 4242, -1)
    result = cli("-C", ready_project, "--json", "check-secrets")
    assert result.exit_code == 1
    me = os.geteuid()
    assert findings(result) == [
        (
            "S019",
            "error",
            f"secrets/gemini_api_key is owned by uid 4242, not by the deploying user (uid {me}) "
            "or root: that user can change or replace the secrets",
        )
    ]


def test_without_git_the_skipped_checks_are_named(cli, ready_project: Path) -> None:
    result = cli("-C", ready_project, "--json", "check-secrets", env={"PATH": "/nonexistent"})
    assert result.exit_code == 0, result.output
    assert findings(result) == [
        ("S020", "warning", "git not found: tracked/ignored checks skipped")
    ]
