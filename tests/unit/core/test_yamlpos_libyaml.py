"""libyaml composes what PyYAML's Python composer composes, to the same values, lines and tags
(core/yamlgraph.py `_compose_libyaml`, issue 15: a compose file or a manifest parses ~5x faster).

Differential: every YAML file of the repository and of the manifest corpus, and random edits of
them (characters YAML cares about inserted, deleted or repeated; lines dropped or repeated), is
parsed twice — with libyaml deciding where it may, and with the Python composer alone — and:

both ways give the same outcome: an identical Located (value, key lines, merge tags), or the
same error (every error is the Python composer's own; the documents where libyaml is more
lenient than PyYAML's Python scanner, a tab after a key or a `?` inside a flow collection,
never take the fast path).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paths import REPO
from titan_deploy.core import yamlgraph, yamlpos
from titan_deploy.errors import ConfigError

CORPUS = sorted(
    [
        *REPO.glob("*.yml"),
        *(REPO / "demo").glob("*.yml"),
        *(REPO / "tests/unit/core/corpus").glob("*.yml"),
    ]
)
TEXTS = [p.read_text(encoding="utf-8", errors="replace") for p in CORPUS]
ALPHABET = [*":-?[]{},&*!|>#'\"\n %@`\\", "  ", "<<", "- ", ": ", "\n  ", "x", "1"]


def parsed(text: str, libyaml: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """('ok', value, lines, tags) or ('error', message), one way or the other."""
    monkeypatch.setattr(yamlgraph, "_LIBYAML", libyaml and yamlgraph._LIBYAML)
    try:
        located = yamlpos._parse(text, "f.yml")
    except ConfigError as exc:
        return ("error", str(exc))
    return ("ok", located.value, located.lines, located.tags)


def assert_same(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parsed(text, True, monkeypatch)
    slow = parsed(text, False, monkeypatch)
    assert fast == slow, text


def test_libyaml_is_there() -> None:
    """The fast path runs here (PyYAML wheels bundle libyaml 0.2.5+); this file tests it."""
    assert yamlgraph._LIBYAML


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_of_the_repository_parses_the_same(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_same(path.read_text(encoding="utf-8", errors="replace"), monkeypatch)


edit = st.tuples(
    st.sampled_from(["insert", "delete", "repeat", "drop line", "repeat line"]),
    st.floats(0, 1),
    st.sampled_from(ALPHABET),
    st.integers(1, 4),
)


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(text=st.sampled_from(TEXTS), edits=st.lists(edit, min_size=1, max_size=4))
def test_edited_documents_parse_the_same(text: str, edits: list, monkeypatch) -> None:
    for kind, where, piece, count in edits:
        text = apply(text, kind, where, piece, count)
    assert_same(text, monkeypatch)


def apply(text: str, kind: str, where: float, piece: str, count: int) -> str:
    at = int(where * len(text))
    if kind == "insert":
        return text[:at] + piece * count + text[at:]
    if kind == "delete":
        return text[:at] + text[at + count :]
    if kind == "repeat":
        return text[:at] + text[at : at + count] * 2 + text[at + count :]
    lines = text.split("\n")
    line = min(int(where * len(lines)), len(lines) - 1)
    if kind == "drop line":
        return "\n".join(lines[:line] + lines[line + 1 :])
    return "\n".join(lines[: line + 1] + lines[line:])


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: &x {c: [1, 2]}\nd: *x\n",
        "a: !reset null\nb: !override [1]\nc: !!str 5\n",
        "x: &a\n  <<: *a\n",  # a recursive alias
        "[" * 150 + "]" * 150,  # deep: the Python composer words it
        "a:\n" + "".join("  " * i + "- b:\n" for i in range(1, 120)),
        "a: 1\na: 2\n",  # a duplicate key
        "a: \x01\n",  # a control character
        "a:\tb\n",  # a tab: left to the Python composer (libyaml accepts it)
        "a: [b?c]\n",  # `?` in a flow collection: likewise
        "k: 'caf\u00e9'\n",  # not ASCII: left to the Python composer
        "--- 1\n--- 2\n",  # two documents
        "",
        "# only a comment\n",
    ],
)
def test_edge_documents_parse_the_same(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same(text, monkeypatch)
