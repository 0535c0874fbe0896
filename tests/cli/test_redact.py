"""Compose's stderr and PyYAML can echo a pasted value: every boundary of the CLI (the error line,
-v details, --json, reports, progress) redacts every value it knows, in every form, and never
quotes a file it failed to parse.

Values known: every file in the secrets dir (versions and stray files too), every env file
compose reads (tests/integration/test_compose_echo.py drives the real compose for those), and
values read from stdin in this process.
"""

from __future__ import annotations

import base64
import io
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.canary import Canaries
from titan_deploy.cli.output import Output
from titan_deploy.core import redact as redact_module
from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.redact import MARK, redact, remember

REPO = Path(__file__).resolve().parents[2]
MODES = [[], ["-v"], ["--json"], ["--json", "-v"]]


def hostile_value(lead: str = "") -> bytes:
    """A valid password with every character that changes how a value is quoted."""
    return f"{lead}{secrets.token_urlsafe(9)}\\q\"x'${{y}}%2F€{secrets.token_urlsafe(9)}".encode()


def fresh_project(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "p"
    root.mkdir()
    for name in ("secrets.manifest.yml", "docker-compose.prod.yml", "secrets.example", "templates"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy2(source, root / name)
    td = [sys.executable, "-m", "titan_deploy", "-C", str(root)]
    subprocess.run([*td, "init"], check=True, capture_output=True)
    subprocess.run([*td, "render"], check=True, capture_output=True)
    return root, td


def assert_clean(done: subprocess.CompletedProcess, canaries: Canaries, value: bytes) -> None:
    text = done.stdout + done.stderr
    assert "Traceback" not in text
    canaries.assert_clean(done.stdout, "stdout")
    canaries.assert_clean(done.stderr, "stderr")
    raw = value.decode()
    for i in range(len(raw) - 7):  # not even 8 characters of it, in any of the forms below
        for form in (raw, raw.replace("\\", "\\\\")):
            assert form[i : i + 8] not in text, text


def test_redact_replaces_values_and_base64():
    value = secrets.token_urlsafe(24).encode()
    text = f"bad key {value.decode()} and {base64.b64encode(value).decode()} short abc"
    out = redact(text, [value + b"\n", b"abc"])
    assert value.decode() not in out and base64.b64encode(value).decode() not in out
    assert out.count(MARK) == 2 and "short abc" in out


def test_value_pasted_as_compose_key_is_not_echoed(tmp_path):
    root, td = fresh_project(tmp_path)
    value = (root / "secrets" / "titan_db_password").read_text().strip()
    compose = root / "docker-compose.prod.yml"
    compose.write_text(
        compose.read_text().replace("  postgres:\n", f"  postgres:\n    {value}: 1\n", 1)
    )
    for mode in MODES:
        done = subprocess.run([*td, *mode, "lint"], capture_output=True, text=True)
        assert done.returncode == 1, done.stderr  # compose's rejection: lint finding L016
        assert "L016" in done.stdout
        assert value not in done.stdout + done.stderr
        assert value[:12] not in done.stdout + done.stderr


@pytest.mark.parametrize("where", ["base file", "version", "stray file"])
def test_a_value_with_a_backslash_pasted_into_compose_is_not_echoed(tmp_path, where):
    """Compose quotes a key with `\\` doubled ('a\\\\b'): that form is redacted too, for every
    file in the secrets dir (a rotation version, a file nobody claims)."""
    root, td = fresh_project(tmp_path)
    value = hostile_value()
    name = {"base file": "titan_db_password", "version": "titan_db_password.v7"}.get(
        where, "old-backup"
    )
    (root / "secrets" / name).write_bytes(value + b"\n")
    canaries = Canaries({name: value})
    compose = root / "docker-compose.prod.yml"
    quoted = value.decode().replace("'", "''")
    compose.write_text(
        compose.read_text().replace("  postgres:\n", f"  postgres:\n    '{quoted}': 1\n", 1)
    )
    for mode in MODES:
        done = subprocess.run([*td, *mode, "lint"], capture_output=True, text=True)
        assert done.returncode == 1, done.stderr  # compose's rejection: lint finding L016
        if "--json" in mode:  # (a table wraps the message)
            assert "additional properties" in done.stdout  # compose did quote it
        assert_clean(done, canaries, value)


@pytest.mark.parametrize("hostile", [False, True], ids=["plain", "hostile"])
@pytest.mark.parametrize("lead", ["*", "&", "!", "@"])
@pytest.mark.parametrize("option", ["-f", "--manifest"])
def test_a_secret_passed_as_a_yaml_file_is_not_echoed(tmp_path, lead, option, hostile):
    """A secret file given by mistake as the compose file or the manifest: PyYAML and compose
    would quote it (`found undefined alias 'rest-of-the-value'`); the error names the file and
    the line, never its text."""
    root, td = fresh_project(tmp_path)
    value = hostile_value(lead) if hostile else f"{lead}{secrets.token_urlsafe(18)}".encode()
    secret = root / "secrets" / "binance_api_secret"
    secret.write_bytes(value + b"\n")
    canaries = Canaries({"binance_api_secret": value, "rest": value[1:]})
    commands = [["render"], ["lint"]] + ([["check-secrets"]] if option == "--manifest" else [])
    for command in commands:
        for mode in ([], ["--json", "-v"]):
            done = subprocess.run(
                [*td, *mode, option, "secrets/binance_api_secret", *command],
                capture_output=True,
                text=True,
            )
            # 2: the tool's YAML reader refuses it; 1: lint's L016, compose refusing it
            assert done.returncode == 2 or (command == ["lint"] and "L016" in done.stdout), (
                command,
                done.stderr,
            )
            assert_clean(done, canaries, value)
            assert "secrets/binance_api_secret" in done.stdout + done.stderr


def test_public_files_in_the_secrets_dir_do_not_garble_messages(tmp_path):
    """A README copied from secrets.example into secrets/ is public: its words (which name every
    secret) are not redacted from check-secrets' findings."""
    root, td = fresh_project(tmp_path)
    shutil.copy2(root / "secrets.example" / "README.md", root / "secrets" / "README.md")
    done = subprocess.run([*td, "--json", "check-secrets"], capture_output=True, text=True)
    assert MARK not in done.stdout
    assert "secrets/binance_api_key still holds a placeholder" in done.stdout


def test_values_read_from_stdin_are_scrubbed(monkeypatch):
    from titan_deploy.cli.material_input import read_material

    monkeypatch.setattr(redact_module, "_remembered", [])
    key, secret = secrets.token_hex(20), secrets.token_urlsafe(30)
    stdin = io.TextIOWrapper(io.BytesIO(f"{key}\n{secret}\n".encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    output = Output()
    output.scrubber = lambda: redact_module.Redactor([])  # built BEFORE the values are read
    output.scrub("warm up")
    assert read_material(["k", "s"], []) == [key.encode(), secret.encode()]
    assert output.scrub(f"exchange said: bad key {key[3:]} / {secret}") == (
        f"exchange said: bad key {MARK} / {MARK}"
    )


def test_every_output_path_is_scrubbed(monkeypatch, capsys):
    """The reporter scrubs reports (table and JSON), failures, -v details and progress."""
    monkeypatch.setattr(redact_module, "_remembered", [])
    value = secrets.token_urlsafe(24)
    remember([value.encode()])
    piece = value[2:14]
    report = Report(
        "x",
        findings=[Finding("error", "X001", f"m {piece}", secret="s", fix=f"f {piece}")],
        rows=[{"note": f"r {piece}"}],
        data={"reason": [f"d {piece}"]},
        summary=f"s {piece}",
    )
    for json_mode in (False, True):
        output = Output(json_mode=json_mode, verbose=True, no_color=True)
        output.scrubber = lambda: redact_module.Redactor([])
        output.report(report)
        output.failure("x", f"failed: {piece}", 3, f"stderr: {value}")
        output.progress(f"step 2 failed: {piece}")
    captured = capsys.readouterr()
    assert piece not in captured.out + captured.err
    assert captured.out.count(MARK) >= 5 and captured.err.count(MARK) >= 3
