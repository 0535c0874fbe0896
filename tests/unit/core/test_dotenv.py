"""core/dotenv.py: env files read the way compose reads them, kept as facts, never values."""

from __future__ import annotations

import base64
import secrets

import pytest

from titan_deploy.core.dotenv import scan_env_text, secret_needles


def names(text: str, raw: bool = False) -> list[tuple[str, int, str]]:
    return [(v.name, v.line, v.state) for v in scan_env_text(text, "/p/x.env", raw=raw).vars]


def test_the_dotenv_grammar_compose_reads() -> None:
    text = (
        "# comment\n"
        "\n"
        "export A=1\n"
        "B = spaced # trailing comment\n"
        'C="multi\n'
        'D=not a variable, still inside C"\n'
        "E: yaml-style\n"
        "F\n"
        "G=\n"
        "H='single # not a comment'\n"
        "I=#only a comment\n"
        "bad name=x\n"
        "J"
    )
    assert names(text) == [
        ("A", 3, "set"),
        ("B", 4, "set"),
        ("C", 5, "set"),
        ("E", 7, "set"),
        ("F", 8, "inherit"),
        ("G", 9, "empty"),
        ("H", 10, "set"),
        ("I", 11, "empty"),
        ("J", 13, "inherit"),
    ]


def test_raw_format_takes_lines_literally() -> None:
    text = 'A="quoted"\n# c\nB=x # not a comment\nC\n'
    assert names(text, raw=True) == [("A", 1, "set"), ("B", 3, "set"), ("C", 4, "inherit")]


def test_crlf_lines() -> None:
    assert names("A=1\r\nB=\r\n") == [("A", 1, "set"), ("B", 2, "empty")]


def test_a_byte_order_mark_is_no_part_of_the_first_name() -> None:
    """Compose strips a UTF-8 BOM (an env file saved by a Windows editor) and gives the
    container APP_PASSWORD: adopt, lint and the scrubber's dotenv reading must see that name
    too (adopt silently skipped the first line's secret, left in the file)."""
    from titan_deploy.core.dotenv import assignments

    text = "\ufeffAPP_PASSWORD=one\r\nB=two\r\n"
    assert names(text) == [("APP_PASSWORD", 1, "set"), ("B", 2, "set")]
    assert [(a.name, a.value) for a in assignments(text)] == [("APP_PASSWORD", "one"), ("B", "two")]
    assert [a.name for a in assignments(text, raw=True)] == ["APP_PASSWORD", "B"]


def test_secret_paths_are_kept_other_values_are_not() -> None:
    facts = scan_env_text("X_FILE=/run/secrets/x\nY=/etc/y\nZ=/run/secrets/a b\n", "/p")
    assert [(v.name, v.secret_path) for v in facts.vars] == [
        ("X_FILE", "/run/secrets/x"),
        ("Y", None),
        ("Z", None),
    ]


@pytest.mark.parametrize(
    "encode",
    [
        lambda v: v,
        lambda v: f'"{v}"',
        lambda v: f"prefix-{v}-suffix",
        lambda v: base64.b64encode(v.encode()).decode(),
        lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
    ],
)
def test_holds_names_the_secret_never_the_value(encode) -> None:
    canary = secrets.token_urlsafe(32)
    values = {"titan_db_password.v4": canary.encode(), "short": b"abc"}
    facts = scan_env_text(f"A=abc\nDSN={encode(canary)}\n", "/p", "x.env", values)
    assert [(v.name, v.holds) for v in facts.vars] == [("A", None), ("DSN", "titan_db_password")]
    assert canary not in repr(facts)


def test_a_secret_holding_a_hash_sign_is_still_found() -> None:
    canary = secrets.token_hex(12) + "#" + secrets.token_hex(12)
    facts = scan_env_text(f"P={canary}\n", "/p", values={"s": canary.encode()})
    assert facts.vars[0].holds == "s"


def test_needles_skip_short_values() -> None:
    assert secret_needles({"a": b"short", "b": b"  \n"}) == []
    assert len(secret_needles({"a": b"long-enough"})) == 3
