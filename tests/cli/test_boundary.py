"""The CLI boundary (cli/boundary.py) on the paths no command reaches on its own."""

from __future__ import annotations

import json

import pytest
import typer
import typer.core
import typer.main

from titan_deploy.cli.app import app


def test_an_abort_while_parsing_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """click turns an EOFError while it parses (a closed stdin at a prompt) into Abort; the root
    group reports it like any usage error instead of failing on the exception's name (typer
    >= 0.26 has no `Abort` in its vendored click exceptions: it is typer.Abort)."""

    def aborted(*args: object, **kwargs: object) -> None:
        raise typer.Abort()

    monkeypatch.setattr(typer.core.TyperGroup, "main", aborted)
    group = typer.main.get_command(app)
    code = group.main(["--json", "status"], standalone_mode=False)
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out) == {
        "command": "status",
        "ok": False,
        "exit_code": 2,
        "error": "aborted (see `titan-deploy --help`)",
    }
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: aborted (see `titan-deploy --help`)"
    ]
    assert "Traceback" not in err
