"""`check-secrets` stays light: it never imports the Docker SDK, jinja2, rich, the leak matchers
or the modules that drive the engine (issues 11 and 15: start-up within 100 ms of a bare
interpreter, benchmarks/cli_startup.py).

The preflight runs before every deploy and in CI; the heavy libraries belong to the commands that
need them (engine, render, a table of rows, audit). A clean run prints its summary line without
rich. Proven in a fresh interpreter with `-X importtime`, which lists every module the run
imported - not timed, nothing measured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "docker",
    "requests",
    "urllib3",
    "jinja2",
    "rich",  # a clean check-secrets prints one summary line: no console, no table
    "hyperscan",
    "ahocorasick_rs",
    "prometheus_client",
    "secrets",  # value generation only (init, rotate): pulls in hashlib/OpenSSL and random
    "typer",  # cli/entry.py runs a plain check-secrets without building the typer app
    "titan_deploy.cli.app",
    "titan_deploy.io.engine",
    "titan_deploy.io.compose",
    "titan_deploy.io.logscan",
    "titan_deploy.ops.stack",
)


def imported_modules(args: list[str]) -> tuple[int, set[str]]:
    """Exit code and every module a fresh `python -m titan_deploy ARGS` imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "titan_deploy", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done.returncode, names


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["table", "json"])
def test_check_secrets_imports_no_heavy_library(ready_project: Path, mode: list[str]) -> None:
    without_configs(ready_project)
    code, names = imported_modules(["-C", str(ready_project), *mode, "check-secrets"])
    assert code == 0
    assert "titan_deploy.ops.check" in names, "the probe sees the command's own imports"
    heavy = [n for n in names if any(n == h or n.startswith(f"{h}.") for h in HEAVY)]
    assert sorted(heavy) == []


def without_configs(project: Path) -> None:
    """The manifest without its `configs:` section (just before `secrets:` in the repo's)."""
    path = project / "secrets.manifest.yml"
    text = path.read_text()
    start, end = text.index("\nconfigs:\n"), text.index("\nsecrets:\n")
    path.write_text(text[: start + 1] + text[end + 1 :])


def test_check_secrets_with_configs_adds_only_jinja2(ready_project: Path) -> None:
    """Config templates (README "Config files") are parsed and rendered by check-secrets: that,
    and only that, needs jinja2 (and its markupsafe)."""
    code, names = imported_modules(["-C", str(ready_project), "check-secrets"])
    assert code == 0
    heavy = {n.split(".")[0] for n in names if any(n == h or n.startswith(f"{h}.") for h in HEAVY)}
    assert heavy == {"jinja2"}


FILE_AUDIT_HEAVY = (
    "docker",
    "requests",
    "jinja2",
    "titan_deploy.io.engine",
    "titan_deploy.io.compose",
    "titan_deploy.core.drift",
    "titan_deploy.core.verify",
)


def test_audit_of_a_file_imports_nothing_of_the_engine(ready_project: Path, tmp_path: Path) -> None:
    """`audit-logs --file` scans a file: the engine, compose and verify modules stay unloaded
    (their import costs more than scanning 100 MB; issue 15)."""
    log = tmp_path / "app.log"
    log.write_bytes(b"2026-11-28T10:00:00Z INFO started\n")
    code, names = imported_modules(["-C", str(ready_project), "audit-logs", "--file", str(log)])
    assert code == 0
    assert "titan_deploy.io.logscan" in names, "the probe sees the command's own imports"
    heavy = [n for n in names if any(n == h or n.startswith(f"{h}.") for h in FILE_AUDIT_HEAVY)]
    assert sorted(heavy) == []
