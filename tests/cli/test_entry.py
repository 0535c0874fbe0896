"""The console script's fast path for check-secrets (cli/entry.py) decides exactly what the typer
app decides, or leaves the command line to it (issue 15: start-up without typer).

Each command line of the corpus is parsed both ways: through the typer app, and through
`entry.parse` + `entry.check_secrets`, with the boundary's `run` replaced by a probe that records
the State (the Project's keyword arguments, the Output's settings) and the parameters. Whatever
the fast path accepts must record the same thing; whatever it cannot reproduce exactly it must
decline. Nothing is timed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer.main

from titan_deploy.cli import boundary, entry
from titan_deploy.cli.app import app

ACCEPTED = [
    ["check-secrets"],
    ["check-secrets", "--fix"],
    ["check-secrets", "--fix", "--fix"],
    ["-C", "proj", "check-secrets"],
    ["--project-dir", "proj", "--project-dir=other", "check-secrets"],
    ["--manifest", "m.yml", "--secrets-dir", "s", "check-secrets", "--fix"],
    ["--manifest=m.yml", "--secrets-dir=s/", "check-secrets"],
    ["-f", "a.yml", "--file", "b.yml", "--file=c.yml", "check-secrets"],
    ["-p", "name", "--project-name=other", "check-secrets"],
    ["--profile", "a", "--profile=b", "--env-file", ".env.x", "--env-file=e", "check-secrets"],
    ["--json", "check-secrets"],
    ["--json", "--json", "--format", "sarif", "check-secrets"],
    ["--format=json", "check-secrets"],
    ["--format", "text", "--json", "check-secrets"],
    ["--no-color", "-v", "--verbose", "check-secrets"],
    ["--swarm", "--swarm", "check-secrets", "--fix"],
    ["-C", "p q", "--manifest", "sub/m.yml", "-v", "--format", "sarif", "check-secrets", "--fix"],
]
DECLINED = [
    [],
    ["--help"],
    ["-h"],
    ["check-secrets", "--help"],
    ["check-secrets", "-h"],
    ["--json", "check-secrets", "--help"],
    ["check-secrets", "extra"],
    ["check-secrets", "--fix=1"],
    ["check-secrets", "--backend"],
    ["check-secrets", "--fix", "--backend"],
    ["--swarm=1", "check-secrets"],
    ["check-secrets", "--json"],
    ["check-secrets", "--"],
    ["--", "check-secrets"],
    ["-Cproj", "check-secrets"],
    ["-vC", "proj", "check-secrets"],
    ["-C", "-x", "check-secrets"],
    ["-C", "", "check-secrets"],
    ["--project-dir=", "check-secrets"],
    ["-C"],
    ["-C", "check-secrets"],
    ["--format", "JSON", "check-secrets"],
    ["--format", "xml", "check-secrets"],
    ["--json=1", "check-secrets"],
    ["--no-json", "check-secrets"],
    ["--proj", "x", "check-secrets"],
    ["-C", "proj"],
    ["status"],
    ["render", "check-secrets"],
    ["rotate", "status"],
    ["-f", "a.yml", "lint"],
]


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `boundary.run` was handed, instead of running the op."""
    seen: list[dict[str, Any]] = []

    def run(state: boundary.State, command: str, params: dict[str, Any], op: Any) -> int:
        out = state.output
        seen.append(
            {
                "project": dict(state.project_kwargs),
                "output": (out.json_mode, out.format, out.no_color, out.verbose),
                "command": command,
                "params": params,
            }
        )
        return 0

    monkeypatch.setattr(boundary, "run", run)
    return seen


def through_typer(argv: list[str], seen: list[dict[str, Any]]) -> dict[str, Any]:
    code = typer.main.get_command(app).main(argv, standalone_mode=False)
    assert code == 0, argv
    return seen.pop()


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_the_fast_path_builds_what_typer_builds(argv: list[str], probe: list) -> None:
    parsed = entry.parse(argv)
    assert parsed is not None, argv
    assert entry.check_secrets(*parsed) == 0
    fast = probe.pop()
    assert fast == through_typer(argv, probe)
    assert fast["command"] == "check-secrets"


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "(none)")
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert entry.parse(argv) is None


def test_a_path_typer_would_refuse_is_left_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """typer stats a Path option and refuses one that exists but cannot be read."""
    unreadable = str(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != unreadable)
    for option in ("-C", "--manifest", "--secrets-dir"):
        assert entry.parse([option, unreadable, "check-secrets"]) is None
    assert entry.parse(["-C", str(tmp_path / "absent"), "check-secrets"]) is not None
    assert entry.parse(["-C", "a\0b", "check-secrets"]) is None


def test_shell_completion_is_left_to_typer(monkeypatch: pytest.MonkeyPatch, probe: list) -> None:
    monkeypatch.setenv(entry.COMPLETION_VAR, "bash_complete")
    monkeypatch.setattr("sys.argv", ["titan-deploy", "check-secrets"])
    called = []
    monkeypatch.setattr(entry, "check_secrets", lambda *a: called.append(a) or 0)
    with pytest.raises(SystemExit):
        entry.main()
    assert called == []


def test_the_tables_name_every_global_option_of_the_app() -> None:
    """A global option added to cli/app.main_options (or to check-secrets) without this module
    knowing it fails here; until then such a command line would simply take the typer path."""
    group = typer.main.get_command(app)
    ctx = group.make_context("titan-deploy", ["check-secrets"], resilient_parsing=True)
    opts = {o for p in group.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
    known = {*entry.FLAGS, *entry.SINGLE, *entry.REPEATED}
    assert opts - {"--help"} == known
    command = group.get_command(ctx, "check-secrets")
    assert command is not None
    sub = {o for p in command.get_params(ctx) for o in (*p.opts, *p.secondary_opts)}
    assert sub - {"--help"} == {"--fix", *entry.LEFT_TO_TYPER}
