"""`audit-logs --file` through the real console entry point: exit codes, JSON, constant memory."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

MANIFEST = {
    "version": 1,
    "compose_files": ["docker-compose.yml"],
    "secrets": {
        "api_token": {"kind": "token", "consumers": {"app": "API_TOKEN_FILE"}},
        "short_pin": {"kind": "text", "consumers": {"app": "PIN_FILE"}},
    },
}
RSS_PROBE = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=False);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def project(tmp_path: Path) -> tuple[Path, bytes]:
    root = tmp_path / "proj"
    (root / "secrets").mkdir(parents=True)
    (root / "secrets.manifest.yml").write_text(yaml.safe_dump(MANIFEST))
    token = secrets.token_urlsafe(32).encode()
    (root / "secrets" / "api_token").write_bytes(token)
    (root / "secrets" / "short_pin").write_bytes(b"1234")
    return root, token


def td(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "titan_deploy", "-C", str(root), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_file_audit_finds_leak_and_never_prints_it(tmp_path):
    root, token = project(tmp_path)
    log = tmp_path / "app.log"
    log.write_bytes(
        b"2026-11-28T10:00:00Z start [MASKED]\n"
        b"2026-11-28T10:00:01Z auth header " + base64.b64encode(b"u:" + token) + b"\n"
    )
    result = td(root, "--json", "audit-logs", "--file", str(log))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    [hit] = doc["data"]["hits"]
    assert (hit["secret"], hit["line"], hit["timestamp"]) == (
        "api_token",
        2,
        "2026-11-28T10:00:01Z",
    )
    assert hit["encoding"].startswith("base64@")
    assert doc["data"]["secrets_skipped"] == ["short_pin"]
    assert any(f["code"] == "A003" for f in doc["findings"])
    for mode in ([], ["-v"]):
        out = td(root, *mode, "audit-logs", "--file", str(log))
        text = out.stdout + out.stderr
        for needle in (token, base64.b64encode(token), token[:12]):
            assert needle.decode() not in text and needle.decode() not in result.stdout


def test_file_audit_clean_exit_0_and_missing_file_exit_2(tmp_path):
    root, _ = project(tmp_path)
    clean = tmp_path / "clean.log"
    clean.write_text("nothing to see [MASKED]\n" * 10)
    result = td(root, "--json", "audit-logs", "--file", str(clean))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"][0]["masked_lines"] == 10
    missing = td(root, "audit-logs", "--file", str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr


def test_200_mb_file_is_audited_in_constant_memory(tmp_path):
    root, token = project(tmp_path)
    log = tmp_path / "big.log"
    line = b"2026-11-28T10:00:00.000000000Z INFO order filled qty=1 px=42 " + b"x" * 60 + b"\n"
    block = line * ((4 << 20) // len(line) + 1)
    with open(log, "wb") as handle:
        while handle.tell() < 200 << 20:
            handle.write(block)
        handle.write(b"2026-11-28T11:00:00Z leaked " + token + b"\n")
    assert os.path.getsize(log) >= 200 << 20
    argv = [sys.executable, "-m", "titan_deploy", "-C", str(root), "--json"]
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, *argv, "audit-logs", "--file", str(log)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kib = int(probe.stdout.strip())
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"
