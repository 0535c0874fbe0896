"""One option means one thing in every rotate command (issue 11.2), and the CLI builds one
RotateSettings value from a command's options (cli/rotate.py `_settings`).

`--timeout`: seconds each recreated service gets to become healthy, in every rotate command that
recreates services. `--log-timeout`: seconds each consumer gets to log its proof, wherever a
proof can be checked. `rotate exchange --wait-timeout` is the hidden, deprecated old name of
`--timeout`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from titan_deploy.cli.app import app
from titan_deploy.core.findings import Report
from titan_deploy.ops.rotate.settings import RotateSettings

RECREATING = ("hmac", "db", "exchange", "secret", "resume", "abort")
PROVING = (
    "exchange",
    "secret",
    "resume",
    "abort",
)  # commands whose steps may check a verify_log proof


def _rotate_commands() -> dict:
    return typer.main.get_command(app).commands["rotate"].commands  # type: ignore[attr-defined]


def _option(command, name: str):
    return next((p for p in command.params if name in p.opts), None)


def _meaning(option) -> tuple:
    return (option.help, option.default, option.hidden, repr(vars(option.type)))


@pytest.mark.parametrize(
    ("name", "commands"), [("--timeout", RECREATING), ("--log-timeout", PROVING)]
)
def test_an_option_has_one_meaning_in_every_rotate_command(name, commands) -> None:
    found = {sub: _option(_rotate_commands()[sub], name) for sub in commands}
    assert all(found.values()), f"{name} missing from: {[s for s, o in found.items() if not o]}"
    meanings = {sub: _meaning(option) for sub, option in found.items()}
    assert len(set(meanings.values())) == 1, meanings
    assert next(iter(found.values())).help.startswith("Seconds")


def test_timeout_is_the_health_wait_and_log_timeout_the_proof_wait() -> None:
    for sub, command in _rotate_commands().items():
        timeout, log_timeout = _option(command, "--timeout"), _option(command, "--log-timeout")
        if timeout is not None:
            assert "healthy" in timeout.help and "log" not in timeout.help, sub
        if log_timeout is not None:
            assert "verify_log" in log_timeout.help, sub


def test_every_rotate_duration_says_its_unit() -> None:
    for sub, command in _rotate_commands().items():
        for param in command.params:
            if any(word in param.name for word in ("timeout", "settle", "min_age")):
                assert param.help.split()[0] in ("Seconds", "Deprecated:", "With"), (sub, param)
                assert "seconds" in param.help.lower() or "hours" in param.help or param.hidden


def _settings_of(cli, tmp_path: Path, monkeypatch, *args: str) -> RotateSettings:
    from titan_deploy.ops.rotate import exchange

    seen: list[RotateSettings] = []

    def run_exchange(project, group, settings, progress=None, *, material=None) -> Report:
        seen.append(settings)
        return Report("rotate exchange")

    monkeypatch.setattr(exchange, "run_exchange", run_exchange)
    result = cli("-C", tmp_path, "rotate", "exchange", "binance", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    return seen[-1]


def test_exchange_options_become_one_settings_value(cli, tmp_path: Path, monkeypatch) -> None:
    settings = _settings_of(
        cli, tmp_path, monkeypatch, "--timeout", "30", "--log-timeout", "7", "--settle", "0"
    )
    assert settings == RotateSettings(timeout=30, log_timeout=7.0, settle=0.0, dry_run=True)


def test_wait_timeout_is_a_hidden_alias_of_timeout(cli, tmp_path: Path, monkeypatch) -> None:
    assert _settings_of(cli, tmp_path, monkeypatch, "--wait-timeout", "40").timeout == 40
    both = _settings_of(cli, tmp_path, monkeypatch, "--wait-timeout", "40", "--timeout", "50")
    assert both.timeout == 50
    assert _option(_rotate_commands()["exchange"], "--wait-timeout").hidden
    assert "--wait-timeout" not in cli("rotate", "exchange", "--help").output
