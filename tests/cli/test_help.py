"""`--help` works for the app and every command (sub-commands included), touching no file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from titan_deploy.cli.app import app


def command_paths() -> list[list[str]]:
    """Every command path of the app, e.g. ["check-secrets"], ["rotate", "hmac"]."""
    out: list[list[str]] = []

    def walk(group, prefix: list[str]) -> None:
        for name, command in sorted(getattr(group, "commands", {}).items()):
            out.append([*prefix, name])
            walk(command, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = command_paths()


def test_the_foundation_commands_exist() -> None:
    names = {path[0] for path in COMMANDS}
    assert {"init", "check-secrets", "render", "lint"} <= names


def test_app_help(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for word in ("--project-dir", "--manifest", "--secrets-dir", "--json", "--no-color", "-v"):
        assert word in result.stdout
    assert "Exit codes: 0" in result.stdout


@pytest.mark.parametrize("path", COMMANDS, ids=["-".join(p) for p in COMMANDS])
def test_command_help(cli, tmp_path: Path, path: list[str]) -> None:
    """Help needs no manifest: run from an empty project dir."""
    result = cli("-C", tmp_path / "missing", *path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    assert " ".join(path) in result.stdout.splitlines()[0]
    assert list(tmp_path.iterdir()) == []


def test_no_command_shows_help(cli) -> None:
    result = cli()
    assert "Usage: " in result.output
    assert "check-secrets" in result.output
