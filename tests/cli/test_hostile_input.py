"""Issue 9.4: unbounded work on hostile or faulty input. Every case runs the real CLI in a
subprocess with RLIMIT_AS = 1 GiB and a hang guard (tests/hostile.py) and must end with a clean
exit code and one line, never a traceback, a hang or an OOM kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile import HANG_GUARD_S, run_bounded

EVIL = "(a+)+$"  # exponential backtracking in Python's re on "aaaa...!"
EVIL_VALUE = b"a" * 48 + b"!"
TWO_GB = 2 * 1024**3


def set_pattern(project: Path, key: str, pattern: str, secret: str = "binance_api_key") -> None:
    manifest = project / "secrets.manifest.yml"
    text = manifest.read_text()
    anchor = f"  {secret}:\n"
    assert anchor in text
    manifest.write_text(text.replace(anchor, f"{anchor}    {key}: '{pattern}'\n", 1))


def fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    return path


# --- regexes: RE2, linear time ------------------------------------------------------------------


def test_catastrophic_pattern_does_not_hang_check_secrets(ready_project: Path) -> None:
    set_pattern(ready_project, "pattern", EVIL)
    (ready_project / "secrets" / "binance_api_key").write_bytes(EVIL_VALUE)
    done = run_bounded(["-C", ready_project, "--json", "check-secrets"])
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [f["message"] for f in findings if f["code"] == "S006"] == [
        "secrets/binance_api_key: api-key does not match the manifest's `pattern`"
    ]


def test_catastrophic_pattern_does_not_hang_rotate_exchange(ready_project: Path) -> None:
    """Validation of new key material (before the lock, before any effect) matches `pattern`."""
    set_pattern(ready_project, "pattern", EVIL)
    stdin = EVIL_VALUE + b"\n" + b"b" * 40 + b"\n"
    done = run_bounded(["-C", ready_project, "rotate", "exchange", "binance"], stdin=stdin)
    assert done.returncode == 2, done.stderr
    assert "the new binance_api_key is not a valid api-key: does not match" in done.stderr


def test_backreference_pattern_is_a_config_error_naming_the_key(ready_project: Path) -> None:
    set_pattern(ready_project, "pattern", r"(a)\1", secret="binance_api_secret")
    done = run_bounded(["-C", ready_project, "check-secrets"])
    assert done.returncode == 2
    assert "secrets.binance_api_secret.pattern: not a valid RE2 regular expression" in (done.stderr)


CHECK_LOG = """
import sys
from titan_deploy.core.rotation import CheckLog
from titan_deploy.ops.rotate.effects import StackEffects
from titan_deploy.ops.rotate.runner import StepFailed

class Info:
    id, name, started_at = "c1", "svc-1", ""

class Engine:
    def containers(self, project, service=None):
        return [Info()]
    def logs(self, cid, since=None, timestamps=False):
        return iter([b"a" * 48 + b"!\\n"] * 3)

effects = StackEffects.__new__(StackEffects)
effects.engine, effects.name, effects.log_timeout = Engine(), "p", 0.0
effects.marks = {}
try:
    effects.check_log(CheckLog(service="svc", pattern=sys.argv[1]))
except StepFailed as exc:
    print("refused:", exc)
"""


def test_catastrophic_verify_log_does_not_hang_the_rotation() -> None:
    """`rotate exchange`, `resume` and `abort` match verify_log (from the manifest or the
    journal) against consumer logs: RE2 keeps that linear, and an RE2-invalid pattern read back
    from a tampered journal fails the step instead of crashing."""
    for pattern, expected in ((EVIL, "no /(a+)+$/ in the logs"), (r"(a)\1", "not a valid RE2")):
        done = subprocess.run(
            [sys.executable, "-c", CHECK_LOG, pattern],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "refused:" in done.stdout and expected in done.stdout


# --- reads: bounded, regular files only ---------------------------------------------------------


def test_a_2gb_secret_is_a_finding_not_a_read(ready_project: Path) -> None:
    big = ready_project / "secrets" / "gemini_api_key"
    os.truncate(big, TWO_GB)  # sparse: no disk used, but read whole it needs 2 GB of memory
    done = run_bounded(["-C", ready_project, "--json", "check-secrets"])
    assert done.returncode == 1, done.stderr
    messages = [f["message"] for f in json.loads(done.stdout)["findings"] if f["code"] == "S008"]
    assert messages == [
        "secrets/gemini_api_key is too large (2097152 KiB): over Docker's 500 KiB secret "
        "limit (at most 511999 bytes)"
    ]


def test_a_2gb_secret_does_not_oom_audit_logs(ready_project: Path, tmp_path: Path) -> None:
    os.truncate(ready_project / "secrets" / "gemini_api_key", TWO_GB)
    log = tmp_path / "app.log"
    log.write_text("2026-01-01T00:00:00Z nothing to see\n")
    done = run_bounded(["-C", ready_project, "--json", "audit-logs", "--file", log])
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [f["code"] for f in findings] == ["A004"]
    assert "gemini_api_key (secrets dir) not searched" in findings[0]["message"]


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_manifest_is_refused(ready_project: Path, special: str) -> None:
    path = fifo(ready_project / "m.yml") if special == "fifo" else Path(special)
    done = run_bounded(["-C", ready_project, "--manifest", path, "check-secrets"])
    assert done.returncode == 2
    kind = "FIFO" if special == "fifo" else "character device"
    assert f"is a {kind}, not a regular file: refused" in done.stderr


def test_fifo_compose_file_is_refused(ready_project: Path) -> None:
    fifo(ready_project / "compose.fifo.yml")
    done = run_bounded(["-C", ready_project, "-f", "compose.fifo.yml", "render"])
    assert done.returncode == 2
    assert "compose.fifo.yml: is a FIFO, not a regular file: refused" in done.stderr


def test_fifo_secret_file_is_a_finding(ready_project: Path) -> None:
    store = ready_project / "secrets"
    (store / "gemini_api_key").unlink()
    fifo(store / "gemini_api_key")
    done = run_bounded(["-C", ready_project, "--json", "check-secrets"])
    assert done.returncode == 1
    codes = {f["code"] for f in json.loads(done.stdout)["findings"]}
    assert "S002" in codes


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_from_file_is_refused(ready_project: Path, tmp_path: Path, special: str) -> None:
    path = fifo(tmp_path / "key") if special == "fifo" else Path(special)
    good = tmp_path / "secret"
    good.write_bytes(b"c" * 40)
    args = ["-C", ready_project, "rotate", "exchange", "binance"]
    done = run_bounded([*args, "--from-file", path, "--from-file", good])
    assert done.returncode == 2
    kind = "FIFO" if special == "fifo" else "character device"
    assert f"cannot read the new binance_api_key from {path}: it is a {kind}" in done.stderr


def test_endless_stdin_is_bounded(ready_project: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        done = run_bounded(
            ["-C", ready_project, "rotate", "exchange", "binance"], stdin=zero.fileno()
        )
    assert done.returncode == 2
    assert "stdin holds more than" in done.stderr and "give 2 values" in done.stderr


def test_fifo_in_init_from_dir_is_refused(titan_project: Path, tmp_path: Path) -> None:
    source = tmp_path / "from"
    source.mkdir()
    fifo(source / "binance_api_key")
    done = run_bounded(["-C", titan_project, "--json", "init", "--from", source])
    assert done.returncode == 1
    refused = [f for f in json.loads(done.stdout)["findings"] if f["code"] == "I002"]
    assert [f["secret"] for f in refused] == ["binance_api_key"]
    assert "is a FIFO, not a regular file: not copied" in refused[0]["message"]
    assert not (titan_project / "secrets" / "binance_api_key").exists()


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_audit_log_file_is_refused(ready_project: Path, tmp_path: Path, special) -> None:
    path = fifo(tmp_path / "app.log") if special == "fifo" else Path(special)
    done = run_bounded(["-C", ready_project, "audit-logs", "--file", path])
    assert done.returncode == 2
    assert f"--file {path}: is a" in done.stderr and "not a regular file: refused" in done.stderr


def test_fifo_journal_is_refused(ready_project: Path) -> None:
    state = ready_project / ".titan-deploy"
    state.mkdir(mode=0o700)
    fifo(state / "state.json")
    done = run_bounded(["-C", ready_project, "rotate", "status"])
    assert done.returncode == 2
    assert "unreadable rotation journal" in done.stderr


def test_fifo_compose_file_is_never_handed_to_compose(ready_project: Path) -> None:
    """lint (and up) run `docker compose config` on the files: a FIFO would block it."""
    fifo(ready_project / "compose.fifo.yml")
    args = ["-f", "docker-compose.prod.yml", "-f", "compose.fifo.yml"]
    done = run_bounded(["-C", ready_project, *args, "lint"])
    assert done.returncode == 2
    assert "compose.fifo.yml: is a FIFO, not a regular file: refused" in done.stderr


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_env_file_is_refused_before_compose(ready_project: Path, special: str) -> None:
    """An `env_file:` (or `.env`) that is a FIFO or /dev/zero: lint's own reader blew up to GBs
    on /dev/zero and compose blocked forever on the FIFO. Refused before either reads it."""
    prod = ready_project / "docker-compose.prod.yml"
    prod.write_text(
        prod.read_text().replace(
            "  titan-hunter:\n",
            "  titan-hunter:\n    env_file: [{path: odd.env, required: false}]\n",
        )
    )
    target = ready_project / "odd.env"
    if special == "fifo":
        fifo(target)
    else:
        target.symlink_to(special)
    done = run_bounded(["-C", ready_project, "lint"])
    assert done.returncode == 2, done.stderr
    assert "env file odd.env: is a" in done.stderr and "not a regular file: refused" in done.stderr
    (ready_project / "odd.env").unlink()
    (ready_project / ".env").symlink_to("/dev/zero")
    done = run_bounded(["-C", ready_project, "lint"])
    assert done.returncode == 2 and "env file .env: is a" in done.stderr, done.stderr
