"""Version naming (titan_deploy.core.versions): one module builds and parses `<name>.v<N>`."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.paths import PACKAGE
from titan_deploy.core import versions
from titan_deploy.core.versions import (
    collision,
    file_name,
    owner,
    parse_file,
    parse_source,
    secondary_target,
    source_name,
    versions_of,
)

PACKAGE = PACKAGE
NAMES = {"a", "app.vault_token", "app", "db.v", "x_v", "titan_hmac_secret"}


def test_build() -> None:
    assert file_name("a", None) == "a"
    assert file_name("a", 3) == "a.v3"
    assert source_name("a", None) == "a"
    assert source_name("a", 12) == "a_v12"
    assert secondary_target("a") == "a.previous"


@pytest.mark.parametrize("bad", [0, -1, True, 1.0])
def test_a_version_is_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError):
        file_name("a", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "want"),
    [
        ("a", ("a", None)),
        ("a.v1", ("a", 1)),
        ("a.v12", ("a", 12)),
        ("app.vault_token", ("app.vault_token", None)),  # a name with `.v`: never `app`
        ("app.vault_token.v3", ("app.vault_token", 3)),
        ("app.v2", ("app", 2)),
        ("db.v", ("db.v", None)),
        ("db.v.v4", ("db.v", 4)),
        ("a.v01", None),  # not a canonical number: built never, claimed never
        ("a.v0", None),
        ("a.v", None),
        ("a.vx", None),
        ("a.v1.tmp-99", None),
        ("b.v1", None),
        ("a_v1", None),  # a compose secret name, not a file
    ],
)
def test_parse_file(entry: str, want: tuple[str, int | None] | None) -> None:
    assert parse_file(entry, NAMES) == want
    assert owner(entry, NAMES) == (want[0] if want else None)


def test_parse_source() -> None:
    assert parse_source("a_v3", NAMES) == ("a", 3)
    assert parse_source("x_v", NAMES) == ("x_v", None)
    assert parse_source("x_v_v2", NAMES) == ("x_v", 2)
    assert parse_source("a.v3", NAMES) is None


@given(
    name=st.sampled_from(sorted(NAMES)),
    version=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
)
def test_parse_inverts_build(name: str, version: int | None) -> None:
    assert parse_file(file_name(name, version), NAMES) == (name, version)
    assert parse_source(source_name(name, version), NAMES) == (name, version)


def test_versions_of() -> None:
    entries = ["a", "a.v1", "a.v12", "a.vx", "a.v03", "b.v3", ".a.v2.tmp-1", "app.vault_token.v5"]
    assert versions_of(entries, "a") == (1, 12)
    assert versions_of(entries, "app") == ()
    assert versions_of(entries, "app.vault_token") == (5,)


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("a.v1", "version 1 of secret a"),
        ("a_v1", "version 1 of secret a"),
        ("a.v01", "version 01 of secret a"),
        ("a_v0", "version 0 of secret a"),
        ("a.previous", "the previous-key mount of secret a (a.previous)"),
        ("a.vault", None),
        ("a.v1x", None),
        ("ab.v1", None),
        ("a", None),
    ],
)
def test_collision(name: str, taken: str | None) -> None:
    assert collision(name, ["a", name]) == taken


def test_no_other_module_builds_or_parses_version_names() -> None:
    """Every `.v<N>` / `_v<N>` is built and parsed in core/versions.py (grep-proof)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "versions.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            if text and (text in (".v", "_v") or "\\.v" in text or "_v[" in text):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.JoinedStr):
                parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
                if any(p.startswith((".v", "_v")) for p in parts):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
    assert versions.FILE_SEP == ".v" and versions.SOURCE_SEP == "_v"
