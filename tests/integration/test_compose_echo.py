"""Compose's echo (issue 8.12): a `.env` / `env_file:` value with `$` (or `\\`) makes the REAL
compose print it (`Invalid template: "..."`); `lint` and `up` show that line, in text and --json
(which lands in CI logs). The CLI scrubs the values of every env file compose reads, so no form
of the value, nor any piece of 8 characters of it, reaches any output.
"""

from __future__ import annotations

import secrets

import pytest

from tests.canary import Canaries

pytestmark = pytest.mark.docker

MODES = [[], ["--json"], ["-v"], ["--json", "-v"]]


def env_canary() -> str:
    """A value compose refuses as a template (an unclosed `${`) with a backslash and a quote."""
    return (
        f'{secrets.token_urlsafe(12)}\\z${{{secrets.token_urlsafe(6)}"q{secrets.token_urlsafe(9)}'
    )


def assert_clean(outputs: list[str], value: str) -> None:
    canaries = Canaries({"env": value.encode()})
    forms = (value, value.replace("\\", "\\\\"), value.replace("\\", "\\\\").replace('"', '\\"'))
    for text in outputs:
        assert "Traceback" not in text
        canaries.assert_clean(text, "output")
        for form in forms:
            for i in range(len(form) - 7):
                assert form[i : i + 8] not in text, text


def test_a_dotenv_value_quoted_by_compose_is_scrubbed(stack) -> None:
    s = stack()
    assert s.td("render").returncode == 0
    value = env_canary()
    (s.root / ".env").write_text(f"TITAN_TAG=latest\nSOME_TOKEN={value}\n")
    raw = s.compose("config")
    assert raw.returncode != 0 and "Invalid template" in raw.stderr  # compose does echo it
    assert value.split("\\")[0] in raw.stderr
    outputs = []
    for mode in MODES:
        result = s.td(*mode, "lint")
        assert result.returncode == 1, result.output  # compose's rejection: finding L016
        assert "L016" in result.output
        if "--json" in mode:  # (a table wraps the message)
            assert "Invalid template" in result.output
        outputs.append(result.output)
    up = s.td("up", "--timeout", "30")
    assert up.returncode == 1, up.output  # stopped at lint
    assert "L016" in up.output
    outputs.append(up.output)
    assert_clean(outputs, value)


def test_an_env_file_named_by_compose_is_scrubbed(stack) -> None:
    s = stack()
    value = env_canary()
    (s.root.parent / f"{s.name}.env").write_text(f"# shared settings\nAPI_SECRET={value}\n")

    def add_env_file(doc: dict) -> None:
        doc["services"]["signer"]["env_file"] = [f"../{s.name}.env"]

    s.edit_compose(add_env_file)
    raw = s.compose("config")
    assert raw.returncode != 0 and "Invalid template" in raw.stderr
    outputs = []
    for mode in ([], ["--json", "-v"]):
        result = s.td(*mode, "up", "--timeout", "30")
        # render's validation: compose rejects the merged result before anything is deployed
        assert result.returncode == 2, result.output
        assert "Invalid template" in result.output
        outputs.append(result.output)
    assert_clean(outputs, value)
