"""core.yamlpos on hostile input: one line `file:LINE: problem`, never a quote of the file, bounded
work (alias bombs, recursive aliases, deep nesting), lines counted as editors count them."""

from __future__ import annotations

import secrets
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from titan_deploy.core import yamlscalar
from titan_deploy.core.yamlgraph import ALIAS_EXPANSION_LIMIT
from titan_deploy.core.yamlpos import check_bounds, load_file, load_located
from titan_deploy.core.yamlscalar import top_level_scalar
from titan_deploy.errors import ConfigError


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_located(text, "f.yml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    bomb = billion_laughs()
    assert len(bomb) < 4096  # 9**10 "lol"s when expanded
    tracemalloc.start()
    try:
        message = error_of(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20
    # the first level whose expansion is over the budget: 9**5 > 10000 nodes
    assert message == (
        f"f.yml:5: not valid here: aliases expand to more than {ALIAS_EXPANSION_LIMIT} extra "
        "nodes (a YAML alias bomb?)"
    )


def test_a_merge_key_bomb_is_refused() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    for i in range(1, 12):
        lines.append(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 8)}], k{i}: 1}}")
    assert "alias bomb" in error_of("\n".join(lines) + "\n")


def test_modest_aliases_are_fine() -> None:
    text = (
        "x-common: &common {restart: always, logging: {driver: json-file}}\n"
        "services:\n" + "".join(f"  s{i}: {{<<: *common, image: busybox}}\n" for i in range(50))
    )
    doc = load_located(text, "c.yml")
    assert doc.value["services"]["s49"]["restart"] == "always"
    assert doc.line(("services", "s49")) == 52


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: &b [1, *b]\n", 2),
        ("a: &a {b: *a}\n", 1),
        ("x: 1\na: &a {<<: *a}\n", 2),
        ("- &l [[*l]]\n", 1),
    ],
)
def test_a_recursive_alias_is_one_line(text: str, line: int) -> None:
    assert error_of(text) == (
        f"f.yml:{line}: not valid here: a recursive alias (an anchor used inside itself)"
    )


@pytest.mark.parametrize("text", ["[" * 50_000, "{a: " * 5000, "a: " + "[" * 300 + "]" * 300])
def test_deep_nesting_is_one_line(text: str) -> None:
    assert error_of(text) == "f.yml:1: not valid here: nested more than 200 deep"


def test_deep_block_nesting_names_its_line() -> None:
    text = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400))
    assert error_of(text) == "f.yml:200: not valid here: nested more than 200 deep"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: 2\n# a NEL \x85 in a comment\nc: 'x\x01'\n", 4),
        ("a: 1\r\nb: 2\r\nc: 'x\x00'\r\n", 3),
        ("a: 1\n# \u2028 \u2029\nb: [1,\n", 4),
        ("a: 'x\x85y'\nb: 2\nc: : 3\n", 3),  # PyYAML says 4: NEL is a break to it
        ("k: 'a\rb'\nm: : 1\n", 2),  # PyYAML says 3: so is a lone CR
        ("k: 'a\u2028b'\nm: 1\nn: : 1\n", 3),
    ],
)
def test_lines_are_counted_by_newline_only(text: str, line: int) -> None:
    assert error_of(text).startswith(f"f.yml:{line}: not valid YAML")


def test_a_control_character_is_named_not_shown() -> None:
    assert error_of("a: 1\nb: 'x\x07y'\n") == (
        "f.yml:2: not valid YAML: a control character #x07 is not allowed"
    )


def test_key_lines_after_a_nel_are_editor_lines() -> None:
    doc = load_located("a: 'x\x85y'\nb:\n  c: 1\n", "f.yml")
    assert doc.line(("b", "c")) == 3


SHAPES = [
    "{v}\n",  # the whole file is the value
    "key: {v}\n",
    "a:\n  - {v}: 1\n",
    "{v}: : x\n",
    "'{v}\n",
    '"{v}\\q"\n',
    "a: {v}\n\tb: 1\n",
]
LEADS = ["*", "&", "!", "!!", "@", "`", "%", "|", ">", "'", '"', "? ", "- ", ""]


@settings(max_examples=300, deadline=None)
@given(
    body=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=12),
    lead=st.sampled_from(LEADS),
    shape=st.sampled_from(SHAPES),
)
def test_no_error_quotes_the_file(body: str, lead: str, shape: str) -> None:
    """A secret passed by mistake as a manifest or compose file: whatever the error, no piece of
    8 characters of it is in the message (PyYAML quotes aliases, anchors, tags, characters)."""
    token = secrets.token_urlsafe(12)  # the secret part; `body` adds hostile characters
    value = lead + token + body
    start, end = len(lead), len(lead) + len(token)
    try:
        load_located(shape.format(v=value), "f.yml")
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("f.yml:")
        for i in range(len(value) - 7):
            if min(i + 8, end) - max(i, start) >= 4:  # a piece with 4+ characters of the token
                assert value[i : i + 8] not in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: *Zx9kLmN0pQrStUv\n", "f.yml:1: not valid YAML: found undefined alias"),
        ("*Zx9kLmN0pQrStUv\n", "f.yml:1: not valid YAML: found undefined alias"),
        (
            "a: @Zx9kLmN0pQrStUv\n",
            "f.yml:1: not valid YAML: found character that cannot start any token",
        ),
        (
            "a:\n\tb: 1\n",
            "f.yml:2: not valid YAML: found character '\\t' that cannot start any token",
        ),
        ("&Zx9kLmN0 a: 1\n&Zx9kLmN0 b: 2\n", "f.yml:2: not valid YAML: found a duplicate anchor"),
        ('a: "Zx9kLmN0\\qpQr"\n', "f.yml:1: not valid YAML: found unknown escape character"),
        (
            "a: !Zx9kLmN0pQrStUv x\n",
            "f.yml:1: a: cannot read value: could not determine a constructor for the tag",
        ),
        (
            "a: !!Zx9kLmN0pQrStUv x\n",
            "f.yml:1: a: cannot read value: could not determine a constructor for the tag",
        ),
        ("? [a\n", "f.yml:2: not valid YAML: expected ',' or ']', but got '<stream end>'"),
        (
            "Zx9kLmN0pQrStUv\nkey: 1\n",
            "f.yml:2: not valid YAML: mapping values are not allowed here",
        ),
        ("a: 1\nZx9kLmN0pQrStUv\n", "f.yml:3: not valid YAML: could not find expected ':'"),
        (
            "a: [Zx9kLmN0pQrStUv\n",
            "f.yml:2: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
    ],
)
def test_pyyaml_problems_without_file_text(text: str, expected: str) -> None:
    assert error_of(text) == expected


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (tag, value)
        for tag in ("int", "float", "bool", "timestamp", "null", "binary")
        for value in ('""', '"-"', '"_"', "Zx9kLmN0pQrStUv", '"Zx9k-LmN0"')
    ],
)
def test_a_standard_tag_on_a_value_it_cannot_build_is_one_line(tag: str, value: str) -> None:
    """PyYAML's constructors are not hardened: `!!int ""` raised IndexError, `!!bool x`
    KeyError, `!!timestamp x` AttributeError (an internal error, exit 3, found by
    tests/unit/core/test_yamlpos_libyaml.py). Each is a ConfigError naming the line and the
    tag, never the value."""
    try:
        load_located(f"a: 1\nb: !!{tag} {value}\n", "f.yml")
    except ConfigError as exc:
        message = str(exc)
    else:
        return  # a value the tag can build (`!!null ""`, `!!binary ""`): nothing to report
    assert message.startswith("f.yml:2: b: cannot read value: "), message
    assert "Zx9k" not in message


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"a: 1\nb: 2\nc: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^c\.yml:3: not UTF-8 text$"):
        load_file(path, "c.yml")


def test_check_bounds_refuses_only_what_compose_would_expand() -> None:
    """For files handed to compose: bombs and recursive aliases are refused; other YAML problems
    are compose's to report (its YAML rules differ)."""
    with pytest.raises(ConfigError, match=r"^c\.yml:5: not valid here: aliases expand"):
        check_bounds(billion_laughs(), "c.yml")
    with pytest.raises(ConfigError, match=r"^c\.yml:1: not valid here: a recursive alias"):
        check_bounds("a: &a [*a]\n", "c.yml")
    check_bounds("a: *undefined\n", "c.yml")  # compose says it better
    check_bounds("a: b: c\n", "c.yml")
    check_bounds("x: &x {a: 1}\ny: {<<: *x}\n", "c.yml")


NAME_DOCS = [
    "name: titan\nservices:\n  a: {image: x, name: other}\n",
    "services:\n  a:\n    image: x\n    labels: [name]\n",
    "name: 'quoted name'\nservices: {}\n",
    'x: 1\nname: "t"\n',
    "name: 123\n",
    "name: true\n",
    "name:\n",
    "base: &b titan\nname: *b\n",
    "<<: {name: merged}\nservices: {}\n",
    "{name: flow, services: {}}\n",
    "- a\n- b\n",
    "",
    "# only a comment\n",
    "services:\n  a: !reset null\nname: tagged-elsewhere\n",
    "name: !!str 12\n",
    "x:\n  - {name: deep}\n  - [1, [2, [3]]]\nname: after-deep\n",
]

BAD_NAME_DOCS = [
    "name: a\nname: b\n",  # a key twice
    "name: a\n---\nname: b\n",  # two documents
    "name: [unclosed\n",  # a syntax error
]


@pytest.mark.parametrize("text", NAME_DOCS)
def test_top_level_scalar_equals_the_full_parse(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(text)
    doc = load_file(path).value
    expected = doc.get("name") if isinstance(doc, dict) else None
    assert top_level_scalar(path, "name") == expected


@pytest.mark.parametrize("text", BAD_NAME_DOCS)
def test_top_level_scalar_raises_what_the_full_parse_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as full:
        load_file(path)
    with pytest.raises(ConfigError) as quick:
        top_level_scalar(path, "name")
    assert str(quick.value) == str(full.value)


def test_top_level_scalar_builds_no_document_for_a_plain_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common case (check-secrets reading the project name) never composes the file."""
    path = tmp_path / "compose.yml"
    path.write_text(
        "name: titan\nservices:\n" + "".join(f"  s{i}: {{image: x}}\n" for i in range(50))
    )

    def refuse(*_: object) -> None:
        raise AssertionError("composed the document")

    monkeypatch.setattr(yamlscalar, "load_located", refuse)
    assert top_level_scalar(path, "name") == "titan"
