"""The manifest's rules across secrets are lookups, not scans (a 300 KB manifest of 5000 secrets
took 231 s of check-secrets: every secret's name and file was compared with every other's).
`collision` never iterates the names it is given; `_file_clash` builds its pool once. Each test
fails on the scanning version; the verdicts are those of tests/unit/core/test_manifest.py."""

from __future__ import annotations

import pytest

from titan_deploy.core import manifest_crosschecks
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.versions import collision
from titan_deploy.errors import ConfigError


class Unscannable(frozenset):
    """A set of names that may be looked up but never iterated."""

    def __iter__(self):  # type: ignore[override]
        raise AssertionError("collision scanned every name")


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("a.v1", "version 1 of secret a"),
        ("a_v2", "version 2 of secret a"),
        ("a.v007", "version 007 of secret a"),
        ("a.previous", "the previous-key mount of secret a (a.previous)"),
        ("app.vault_token.v12", "version 12 of secret app.vault_token"),
        ("db/password.txt.v3", "version 3 of secret db/password.txt"),
        ("a.v1x", None),
        ("b.v1", None),
        ("a", None),
    ],
)
def test_collision_looks_names_up_and_never_scans_them(name: str, taken: str | None) -> None:
    names = Unscannable({"a", "app.vault_token", "db/password.txt"})
    assert collision(name, names) == taken


def _manifest(count: int, extra: str = "") -> str:
    body = "".join(
        f"  s{i}:\n    kind: token\n    consumers: {{app: S{i}_FILE}}\n" for i in range(count)
    )
    return f"version: 1\nsecrets:\n{body}{extra}"


def test_the_file_rule_builds_its_pool_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pools: list[object] = []  # held, so that no id is reused

    def recording(name: str, names):  # type: ignore[no-untyped-def]
        if not any(names is pool for pool in pools):
            pools.append(names)
        return collision(name, names)

    monkeypatch.setattr(manifest_crosschecks, "collision", recording)
    manifest = parse_manifest_text(_manifest(200))
    assert len(manifest.secrets) == 200
    assert len(pools) <= 2  # the names (a dict) and the files' pool, each built once


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "  d:\n    kind: token\n    file: s7\n    consumers: {app: D_FILE}\n",
            "s7 is already the file of secret s7",
        ),
        (
            "  d:\n    kind: token\n    file: s7.v2\n    consumers: {app: D_FILE}\n",
            "s7.v2 collides with version 2 of secret s7",
        ),
        (
            "  d:\n    kind: token\n    file: s7/inner\n    consumers: {app: D_FILE}\n",
            "s7 is a directory of secret d's file s7/inner",
        ),
    ],
)
def test_the_file_rules_still_refuse_among_many(extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(_manifest(300, extra))
    assert problem in str(caught.value)
