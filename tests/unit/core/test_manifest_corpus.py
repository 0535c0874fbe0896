"""A corpus of broken manifests (`corpus/*.yml` beside this file): each one is exit 2 through the
CLI, with ONE line naming the file, the line and the key path, and never a traceback.

Every corpus file says what is wrong on its first line and what to expect on its second:
`# expect: LINE KEYPATH` (KEYPATH `-` for YAML syntax errors, which have no key path).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted(CORPUS.glob("*.yml"))
CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
EXPECT = re.compile(r"^# expect: (?P<line>\d+) (?P<path>.+)$", re.M)


def expectation(path: Path) -> tuple[int, str]:
    text = path.read_text()
    assert text.startswith("# wrong: "), f"{path.name}: first line must say what is wrong"
    match = EXPECT.search(text)
    assert match, f"{path.name}: second line must be '# expect: LINE KEYPATH'"
    return int(match["line"]), match["path"]


def test_the_corpus_is_big_enough() -> None:
    assert len(FILES) >= 15


@pytest.fixture
def corpus_project(titan_project: Path) -> Path:
    shutil.copytree(CORPUS, titan_project / "corpus")
    return titan_project


def assert_one_line(result, prefix: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one message, got {lines}"
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("command", [["check-secrets"], ["render"], ["render", "--check"]])
def test_broken_manifest_is_one_clear_line(
    corpus_project: Path, cli, path: Path, command: list[str]
) -> None:
    line, keypath = expectation(path)
    shown = f"corpus/{path.name}"
    where = "not valid YAML" if keypath == "-" else f"{keypath}: "
    result = cli("-C", corpus_project, "--manifest", shown, *command)
    message = assert_one_line(result, f"error: {shown}:{line}: {where}")
    assert result.stdout == ""
    # nothing was written: no overlay change, no secrets dir
    assert not (corpus_project / "secrets").exists()
    assert (corpus_project / "docker-compose.secrets.yml").read_bytes() == (
        REPO / "docker-compose.secrets.yml"
    ).read_bytes()
    # the same message, as the error document, in --json mode
    as_json = cli("-C", corpus_project, "--json", "--manifest", shown, *command)
    assert as_json.exit_code == 2
    doc = json.loads(as_json.stdout)
    assert doc == {
        "command": command[0],
        "ok": False,
        "exit_code": 2,
        "error": message.removeprefix("error: "),
    }


LONG = [CORPUS / "01_bad_yaml_syntax.yml", CORPUS / "13_hex_without_bytes.yml"]


@pytest.mark.parametrize("path", LONG, ids=[p.stem for p in LONG])
def test_long_absolute_manifest_path_stays_on_one_line(corpus_project: Path, path: Path) -> None:
    """An operator greps for file:line: the message is never wrapped, however long (the real
    console script, stderr a pipe, as in CI logs)."""
    line, keypath = expectation(path)
    deep = corpus_project / ("a-rather-long-directory-name-" * 4).strip("-") / "and-deeper"
    deep.mkdir(parents=True)
    target = deep / path.name
    shutil.copy(path, target)
    where = "not valid YAML" if keypath == "-" else f"{keypath}: "
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(corpus_project), "--manifest", str(target), "init"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {target}:{line}: {where}")
    assert len(lines[0]) > 200
    assert not (corpus_project / "secrets").exists()


def test_verbose_adds_no_traceback(corpus_project: Path, cli) -> None:
    for path in FILES:
        result = cli("-C", corpus_project, "-v", "--manifest", f"corpus/{path.name}", "lint")
        assert result.exit_code == 2
        assert "Traceback" not in result.output
