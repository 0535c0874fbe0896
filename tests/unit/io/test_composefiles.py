"""io/composefiles.py: the tool's own compose reader follows `include:` as Compose does (issue
10 item 4): every form, relative to the including file, included files first, cycles ended."""

from __future__ import annotations

from pathlib import Path

from titan_deploy.io.composefiles import load_compose_files


def test_every_include_form_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "c.yml").write_text(
        "include:\n  - a/one.yml\n  - path: [a/two.yml]\n    project_directory: a\n"
        "services: {top: {image: x}}\n"
    )
    (tmp_path / "a" / "one.yml").write_text("include: [three.yml]\nservices: {one: {image: x}}\n")
    (tmp_path / "a" / "two.yml").write_text("services: {two: {image: x}}\n")
    (tmp_path / "a" / "three.yml").write_text("services: {three: {image: x}}\n")
    docs = load_compose_files(tmp_path, ["c.yml"])
    assert [d.display for d in docs] == ["a/three.yml", "a/one.yml", "a/two.yml", "c.yml"]
    assert [d.included for d in docs] == [True, True, True, False]


def test_a_cycle_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text("include: [d.yml]\nservices: {}\n")
    (tmp_path / "d.yml").write_text("include: [c.yml, d.yml]\nservices: {}\n")
    assert [d.display for d in load_compose_files(tmp_path, ["c.yml"])] == ["d.yml", "c.yml"]
