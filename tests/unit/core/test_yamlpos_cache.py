"""core.yamlpos parses each text once per process (issue 15; the cache is core/yamlcache.py): one
command used to parse every compose file up to five times (render's plan, verify's plan and
profiles, gather, the env-file check). The cache is keyed by the text itself, so it can never
hand out a stale document, and every caller gets its own copy."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from titan_deploy.core import yamlcache, yamlgraph
from titan_deploy.core.yamlpos import check_bounds, load_file, load_located


@pytest.fixture
def composed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources yamlpos composes (parses) from now on, in order."""
    calls: list[str] = []
    real = yamlgraph.composed

    def counting(text: str, source: str, line_at):  # type: ignore[no-untyped-def]
        calls.append(source)
        return real(text, source, line_at)

    monkeypatch.setattr(yamlgraph, "composed", counting)
    return calls


def unique_doc() -> str:
    """A document no other test parsed (a fresh cache key)."""
    return f"# {secrets.token_hex(8)}\nservices:\n  app:\n    image: busybox\n    ports: [80]\n"


def test_the_same_file_is_parsed_once(tmp_path: Path, composed: list[str]) -> None:
    path = tmp_path / "compose.yml"
    path.write_text(unique_doc())
    first = load_file(path, display="compose.yml")
    second = load_file(path, display="compose.yml")
    assert composed == ["compose.yml"]
    assert first.value == second.value and first.lines == second.lines


def test_each_caller_gets_its_own_copy(composed: list[str]) -> None:
    text = unique_doc()
    first = load_located(text, "f.yml")
    first.value["services"]["app"]["ports"].append(443)
    first.value["services"]["other"] = {}
    first.lines.clear()
    again = load_located(text, "f.yml")
    assert again.value == {"services": {"app": {"image": "busybox", "ports": [80]}}}
    assert again.lines[("services", "app", "image")] == 4
    assert len(composed) == 1


def test_an_edited_file_is_parsed_again_even_with_same_size_and_times(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("services:\n  app:\n    image: aaaaaaa\n")
    before = os.stat(path)
    assert load_file(path).value["services"]["app"]["image"] == "aaaaaaa"
    with open(path, "r+") as f:  # same inode, same size, timestamps put back
        f.write("services:\n  app:\n    image: bbbbbbb\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert load_file(path).value["services"]["app"]["image"] == "bbbbbbb"


def test_check_bounds_does_not_parse_a_text_parsed_whole(composed: list[str]) -> None:
    text = unique_doc() + "x-common: &c {a: 1}\nx-use: *c\n"
    load_located(text, "f.yml")
    check_bounds(text, "f.yml")
    assert composed == ["f.yml"]


def test_an_invalid_text_keeps_failing(composed: list[str]) -> None:
    text = unique_doc() + "services: {}\n"  # duplicate key
    for _ in range(2):
        with pytest.raises(Exception, match="duplicate key"):
            load_located(text, "f.yml")
    assert len(composed) == 2


def test_the_cache_is_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlcache, "_PARSED", {})
    monkeypatch.setattr(yamlcache, "_CACHE_CHARS", 250)
    texts = [unique_doc() for _ in range(5)]  # ~75 characters each
    for text in texts:
        load_located(text, "f.yml")
    kept = [text for _, text in yamlcache._PARSED]
    assert kept == texts[-len(kept) :] and sum(map(len, kept)) <= 250 and len(kept) >= 2
