"""Compose's `!reset` / `!override` (v2.24+) in an operator's compose file: every command that
reads compose files accepts them (issue 10 item 4: any of them made every command exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _tag(project: Path) -> None:
    compose = project / "docker-compose.prod.yml"
    text = compose.read_text()
    head, tail = text.split("  redis:\n", 1)
    tail = tail.replace(
        '    ports: ["127.0.0.1:6379:6379"]\n',
        "    ports: !reset []\n    image: !override redis:7-bookworm\n"
        "    environment: !override\n      REDIS_X: !reset null\n      REDIS_Y: 'y'\n",
        1,
    )
    tail = tail.replace("    image: redis:7-bookworm\n", "", 1)
    compose.write_text(head + "  redis:\n" + tail)
    assert "!reset" in compose.read_text() and "!override" in compose.read_text()


@pytest.mark.parametrize(
    "command", [("render",), ("render", "--check"), ("check-secrets",), ("lint",)]
)
def test_merge_tags_do_not_make_a_command_exit_2(ready_project: Path, cli, command) -> None:
    _tag(ready_project)
    assert cli("-C", ready_project, "render").exit_code == 0
    result = cli("-C", ready_project, *command)
    assert result.exit_code in (0, 1), result.output
    assert "not valid" not in result.output and "cannot read value" not in result.output
