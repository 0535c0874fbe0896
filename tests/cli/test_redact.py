"""Compose's stderr can echo a pasted value: the error boundary redacts every known value."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from titan_deploy.core.redact import redact

REPO = Path(__file__).resolve().parents[2]


def test_redact_replaces_values_and_base64():
    value = secrets.token_urlsafe(24).encode()
    import base64

    text = f"bad key {value.decode()} and {base64.b64encode(value).decode()} short abc"
    out = redact(text, [value + b"\n", b"abc"])
    assert value.decode() not in out and base64.b64encode(value).decode() not in out
    assert out.count("[REDACTED]") == 2 and "short abc" in out


def test_value_pasted_as_compose_key_is_not_echoed(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    for name in ("secrets.manifest.yml", "docker-compose.prod.yml", "secrets.example"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    td = [sys.executable, "-m", "titan_deploy", "-C", str(root)]
    subprocess.run([*td, "init"], check=True, capture_output=True)
    subprocess.run([*td, "render"], check=True, capture_output=True)
    value = (root / "secrets" / "titan_db_password").read_text().strip()
    compose = root / "docker-compose.prod.yml"
    compose.write_text(
        compose.read_text().replace("  postgres:\n", f"  postgres:\n    {value}: 1\n", 1)
    )
    for mode in ([], ["-v"], ["--json"]):
        done = subprocess.run([*td, *mode, "lint"], capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert value not in done.stdout + done.stderr
        assert value[:12] not in done.stdout + done.stderr
