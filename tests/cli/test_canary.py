"""Canary test (ARCHITECTURE.md invariant 1): random values for all eight secrets (plus a PEM key
and a multi-line text, added to the manifest here), every foundation command in normal, --json and
-v modes, on success and failure paths; no value, nor its base64 (standard or urlsafe), nor its
hex, nor any 12-character piece of any of them appears in any output, or in any file written
outside the secrets dir. Once per command through the real console script. The detector is the
suite's one canary helper, tests/canary.py.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.canary import WINDOW, Canaries
from titan_deploy.core.manifest import load_manifest

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
MODES = [[], ["--json"], ["-v"], ["--json", "-v"], ["--format", "sarif"]]


# Two multi-line secrets on top of the Titan manifest: an Ed25519 exchange key (PEM) and a
# multi-line config text. Both consumed by titan-execution, which the compose file defines.
EXTRA_SECRETS = """\
  exchange_ed25519_key:
    description: An exchange's Ed25519 API private key (PEM).
    kind: pem
    consumers: {titan-execution: EXCHANGE_ED25519_KEY_FILE}
  nats_conf:
    description: A multi-line config holding credentials.
    kind: text
    multiline: true
    consumers: {titan-execution: NATS_CONF_FILE}
"""


@pytest.fixture
def titan_project(titan_project: Path) -> Path:
    """The conftest project, with the two multi-line secrets added to its manifest."""
    manifest = titan_project / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text().rstrip("\n") + "\n" + EXTRA_SECRETS)
    return titan_project


def files_outside(project: Path, skip: set[Path]) -> Iterator[Path]:
    for root, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if Path(root, d) not in skip]
        for name in files:
            path = Path(root, name)
            if path not in skip:
                yield path


@pytest.fixture
def canaries(titan_values: dict[str, bytes]) -> Canaries:
    return Canaries(titan_values)


def test_the_detector_detects(titan_values: dict[str, bytes], canaries: Canaries) -> None:
    value = titan_values["binance_api_secret"]
    assert canaries.found("x" + value[5:17].decode() + "y")
    assert canaries.found(base64.b64encode(value).decode()[:WINDOW])
    assert canaries.found(value.hex()[20 : 20 + WINDOW])
    assert not canaries.found("secrets/binance_api_secret is mode 0644")
    key_line = titan_values["exchange_ed25519_key"].split(b"\n")[1]
    assert canaries.found(key_line[-WINDOW:].decode())  # the random part of the key
    assert canaries.found(base64.b64encode(key_line).decode())
    conf_line = titan_values["nats_conf"].split(b"\n")[1]
    assert canaries.found(conf_line[-WINDOW:].decode())
    assert not canaries.found("-----BEGIN PRIVATE KEY----- line 3: not a base64 line")


def run_everywhere(cli, project: Path, canaries: Canaries, *args: str, env=None) -> set[int]:
    """Run one command in every mode; check stdout and stderr; return the exit codes seen."""
    codes = set()
    for mode in MODES:
        result = cli("-C", project, *mode, *args, env=env)
        where = f"`{' '.join([*mode, *args])}`"
        assert "Traceback" not in result.output, where
        canaries.assert_clean(result.stdout, f"{where} stdout")
        canaries.assert_clean(result.stderr, f"{where} stderr")
        if "--json" in mode or "sarif" in mode:
            json.loads(result.stdout)
        codes.add(result.exit_code)
    return codes


def break_store(project: Path, values: dict[str, bytes]) -> None:
    """Every content and permission problem at once, each made from a canary."""
    store = project / "secrets"
    (store / "titan_hmac_secret").write_bytes(values["titan_hmac_secret"][:-2])  # wrong length
    os.chmod(store / "bybit_api_key", 0o644)  # bad mode
    os.chown(store / "bybit_api_secret", -1, 10501)  # wrong group
    (store / "gemini_api_key").write_bytes(values["gemini_api_key"] + b"\n")  # trailing newline
    key = values["binance_api_key"]
    (store / "binance_api_key").write_bytes(key[:20] + b" " + key[20:])  # whitespace inside
    (store / "binance_api_secret").write_bytes(values["binance_api_secret"] + b"\r\n")  # CRLF
    (store / "grafana_admin_password").write_bytes(values["titan_db_password"])  # duplicate
    (store / "titan_db_password.v2").write_bytes(values["titan_db_password"][::-1])
    (store / "leftover").write_bytes(values["bybit_api_key"])  # stray
    (store / "bybit_api_key.v1").write_bytes(values["bybit_api_secret"][:-1] + b"\x00")
    pem = values["exchange_ed25519_key"]
    (store / "exchange_ed25519_key").write_bytes(pem.replace(b"END PRIVATE", b"END RSA PRIVATE"))
    (store / "exchange_ed25519_key.v1").write_bytes(b"\n" + pem + b"\n")  # a rotation version
    (store / "nats_conf").write_bytes(b"\n" + values["nats_conf"] + b"\n")  # fixable whitespace
    os.chmod(store / "nats_password", 0o644)  # bad mode
    (store / "nats_user").write_bytes(b" " + values["nats_user"])  # leading space


def plant_in_compose(project: Path, values: dict[str, bytes]) -> None:
    """A value pasted into the compose env, and a secret variable interpolated."""
    prod = project / "docker-compose.prod.yml"
    text = prod.read_text()
    marker = '      PORT: "3002"\n'
    assert marker in text
    planted = (
        f"      BINANCE_API_KEY: {values['binance_api_key'].decode()}\n"
        "      BYBIT_API_SECRET: ${BYBIT_API_SECRET}\n"
        f"      SOME_SETTING: {values['gemini_api_key'].decode()}\n"
    )
    prod.write_text(text.replace(marker, marker + planted))


def test_no_value_in_any_output_or_file(
    cli, ready_project: Path, titan_values: dict[str, bytes], canaries: Canaries, tmp_path
) -> None:
    project = ready_project
    store = project / "secrets"
    env = {"BYBIT_API_SECRET": titan_values["bybit_api_secret"].decode()}

    # success paths
    assert run_everywhere(cli, project, canaries, "check-secrets", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "init", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "render", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "render", "--check", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "lint", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "history", "--verify", env=env) == {0}

    # audit-logs finds each multi-line value line by line (and whole, base64), never prints it
    log = tmp_path / "shipped.log"
    key, conf = titan_values["exchange_ed25519_key"], titan_values["nats_conf"]
    log.write_bytes(
        b"2026-11-28T10:00:00Z loaded key " + key.split(b"\n")[1] + b"\n"
        b"2026-11-28T10:00:01Z config " + conf.split(b"\n")[1] + b"\n"
        b"2026-11-28T10:00:02Z dump " + base64.b64encode(key.strip()) + b"\n"
    )
    assert run_everywhere(cli, project, canaries, "audit-logs", "--file", str(log), env=env) == {1}
    audit = json.loads(cli("-C", project, "--json", "audit-logs", "--file", log).stdout)
    assert sorted({(h["line"], h["secret"]) for h in audit["data"]["hits"]}) == [
        (1, "exchange_ed25519_key"),
        (2, "nats_conf"),
        (3, "exchange_ed25519_key"),
    ]

    # init from a directory of operator-supplied values, into a fresh project
    fresh = tmp_path / "fresh"
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns("secrets"))
    source = tmp_path / "from"
    source.mkdir()
    for name, value in titan_values.items():
        (source / name).write_bytes(value)
    for mode in MODES:
        result = cli("-C", fresh, *mode, "init", "--from", source)
        assert result.exit_code == 0
        canaries.assert_clean(result.output, f"init --from {mode}")
        shutil.rmtree(fresh / "secrets")

    # failure paths: a store with every problem, then --fix
    break_store(project, titan_values)
    assert run_everywhere(cli, project, canaries, "check-secrets", env=env) == {1}
    for mode in MODES:
        break_store(project, titan_values)
        result = cli("-C", project, *mode, "check-secrets", "--fix", env=env)
        assert result.exit_code == 1
        canaries.assert_clean(result.output, f"check-secrets --fix {mode}")
    assert (store / "gemini_api_key").read_bytes() == titan_values["gemini_api_key"]
    assert (store / "nats_conf").read_bytes() == titan_values["nats_conf"]  # one final newline

    # lint with values in the compose env; render --check drift; a broken manifest
    plant_in_compose(project, titan_values)
    assert run_everywhere(cli, project, canaries, "lint", env=env) == {1}
    overlay = project / "docker-compose.secrets.yml"
    overlay.write_text(overlay.read_text().replace('"10500"', '"10501"'))
    assert run_everywhere(cli, project, canaries, "render", "--check", env=env) == {1}
    manifest = project / "secrets.manifest.yml"
    good_manifest = manifest.read_text()
    manifest.write_text(good_manifest.replace("bytes: 32", "bytes: '32'"))
    for command in ("init", "check-secrets", "render", "lint"):
        assert run_everywhere(cli, project, canaries, command, env=env) == {2}
    manifest.write_text(good_manifest)
    assert run_everywhere(cli, project, canaries, "render", env=env) == {0}
    assert run_everywhere(cli, project, canaries, "history", "--limit", "0", env=env) == {0}

    # no file outside the secrets dir holds a value (the planted compose file aside)
    prod = project / "docker-compose.prod.yml"
    assert canaries.found(prod.read_text())  # the planted values are still there, unchanged
    for path in files_outside(project, {store, prod}):
        canaries.assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))
    for path in files_outside(fresh, {fresh / "secrets"}):
        canaries.assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))
    # and the secrets dir holds no temp file
    assert not [p for p in os.listdir(store) if ".tmp" in p]


def test_console_script_once_per_command(
    ready_project: Path, titan_values: dict[str, bytes], canaries: Canaries, tmp_path: Path
) -> None:
    """The installed console script, with its own process, stdio pipes and TMPDIR."""
    project = ready_project
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), BYBIT_API_SECRET=titan_values["bybit_api_secret"])
    env = {k: v.decode() if isinstance(v, bytes) else v for k, v in env.items()}
    break_store(project, titan_values)
    plant_in_compose(project, titan_values)
    (project / "docker-compose.secrets.yml").unlink()
    (project / ".titan-deploy").mkdir()
    runs = [
        (["init"], 0),
        (["check-secrets"], 1),
        (["-v", "check-secrets", "--fix"], 1),
        (["render", "--check"], 1),
        (["--json", "render"], 0),
        (["-v", "lint"], 1),
        (["--json", "lint"], 1),
        (["history", "--verify"], 0),
        (["--json", "history", "--verify"], 0),
    ]
    for args, code in runs:
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "-C", str(project), *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        canaries.assert_clean(done.stdout, f"{args} stdout")
        canaries.assert_clean(done.stderr, f"{args} stderr")
    prod = project / "docker-compose.prod.yml"
    for path in files_outside(project, {project / "secrets", prod}):
        canaries.assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))
    for path in files_outside(tmpdir, set()):
        canaries.assert_clean(path.read_bytes().decode("utf-8", "replace"), str(path))


def test_values_never_reach_a_finding(ready_project: Path, titan_values, canaries) -> None:
    """The report values themselves (before any rendering) are free of values."""
    from titan_deploy.ops.check import run_check
    from titan_deploy.project import Project

    break_store(ready_project, titan_values)
    report = run_check(Project(project_dir=ready_project))
    canaries.assert_clean(json.dumps(report.to_dict()), "check-secrets report")
    canaries.assert_clean(repr(report), "repr(report)")
    manifest = load_manifest(ready_project / "secrets.manifest.yml")
    secrets = [s for s in manifest.secrets.values() if not s.is_config]  # configs: rendered
    assert len(report.findings) >= len(secrets) - 1
