"""Issue 9.7 on a real engine: `check-secrets --fix` never modifies a secret file a container
bind-mounts (ARCHITECTURE.md invariant 2), and `--secrets-dir` is honoured from check to verify."""

from __future__ import annotations

import json
import os
import stat

import pytest

pytestmark = pytest.mark.docker


def test_fix_skips_a_file_a_running_container_mounts(stack):
    s = stack()
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 0, up.output
    mounted = s.secret_path("api_token")
    os.chmod(mounted, 0o644)
    before = mounted.read_bytes()
    fix = s.td("--json", "check-secrets", "--fix")
    assert fix.returncode == 1, fix.output
    notes = [f for f in json.loads(fix.stdout)["findings"] if f["code"] == "S021"]
    assert len(notes) == 1, fix.output
    assert notes[0]["message"].startswith("secrets/api_token: chmod not applied: bind-mounted by")
    assert f"{s.name}-signer-1" in notes[0]["message"]
    assert stat.S_IMODE(mounted.stat().st_mode) == 0o644
    assert mounted.read_bytes() == before
    s.down()  # nothing mounts it any more: the same fix now applies
    fix = s.td("--json", "check-secrets", "--fix")
    assert fix.returncode == 0, fix.output
    assert stat.S_IMODE(mounted.stat().st_mode) == 0o640


def test_up_and_verify_with_secrets_dir(stack):
    s = stack()
    (s.root / "secrets").rename(s.root / "alt")
    up = s.td("--secrets-dir", "alt", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    verify = s.td("--secrets-dir", "alt", "--json", "verify")
    assert verify.returncode == 0, verify.output
    assert json.loads(verify.stdout)["data"]["verified"] == 3
