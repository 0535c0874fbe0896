"""History (README "History") end to end through the console script: one record per
state-changing run, never a value, 0600 and git-ignored; `history --verify` finds an edited,
removed (middle or last) or reordered record; concurrent runs chain one after another."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from tests.canary import Canaries
from titan_deploy.cli import boundary
from titan_deploy.cli.app import app

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(project), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def records(project: Path) -> list[dict]:
    log = project / ".titan-deploy" / "history.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def verify(project: Path) -> subprocess.CompletedProcess[str]:
    return run(project, "--json", "history", "--verify", "--limit", "0")


@pytest.fixture
def recorded(ready_project: Path) -> Path:
    """A project with four records: render, check-secrets --fix, render, render."""
    for args in (["render"], ["check-secrets", "--fix"], ["render"], ["render"]):
        assert run(ready_project, *args).returncode == 0
    return ready_project


def test_state_changing_runs_are_recorded_read_only_runs_are_not(
    ready_project: Path, titan_values: dict[str, bytes]
) -> None:
    project = ready_project
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(project)], check=True)
    for args, code in (
        (["init"], 0),
        (["render"], 0),
        (["render", "--check"], 0),
        (["check-secrets"], 0),
        (["check-secrets", "--fix"], 0),
        (["history"], 0),
    ):
        done = run(project, *args)
        assert done.returncode == code, (args, done.stderr)
    got = records(project)
    assert [r["command"] for r in got] == ["init", "render", "check-secrets"]
    assert [r["seq"] for r in got] == [1, 2, 3]
    first = got[0]
    assert first["who"]["uid"] == os.getuid() and first["who"]["host"]
    assert first["when"].endswith("Z") and first["outcome"] == {"exit_code": 0, "ok": True}
    assert "titan_db_password" in first["what"]["secrets"]
    assert got[2]["options"] == {"fix": True, "backend": False}
    state = project / ".titan-deploy"
    for name in ("history.jsonl", "history.head"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    text = (state / "history.jsonl").read_text() + (state / "history.head").read_text()
    Canaries(titan_values).assert_clean(text, "history")
    if shutil.which("git"):
        ignored = subprocess.run(
            ["git", "-C", str(project), "check-ignore", "-q", ".titan-deploy/history.jsonl"],
            check=False,
        )
        assert ignored.returncode == 0
    doc = json.loads(verify(project).stdout)
    assert doc["exit_code"] == 0 and doc["data"]["verified"] is True
    assert [r["seq"] for r in doc["data"]["records"]] == [1, 2, 3]
    limited = json.loads(run(project, "--json", "history", "--limit", "1").stdout)
    assert [r["seq"] for r in limited["data"]["records"]] == [3]
    assert limited["data"]["verified"] is None


def test_a_failed_run_is_recorded_with_its_exit_code(ready_project: Path) -> None:
    unreachable = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    down = subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(ready_project), "-p", "tdtest-nothing", "down"],
        capture_output=True,
        text=True,
        env=unreachable,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert down.returncode == 3, down.stderr
    (last,) = records(ready_project)
    assert last["command"] == "down"
    assert last["outcome"]["exit_code"] == 3 and last["outcome"]["ok"] is False
    assert last["outcome"]["error"] in {"ComposeUnreachable", "EngineUnreachable", "ComposeError"}


def test_a_run_refused_for_its_configuration_changed_nothing_and_is_not_recorded(
    ready_project: Path,
) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    text = manifest.read_text().replace("titan-brain: TITAN_DB", "nowhere: TITAN_DB", 1)
    manifest.write_text(text)
    assert run(ready_project, "render").returncode == 2
    assert not (ready_project / ".titan-deploy").exists()


def test_a_history_that_cannot_be_written_is_a_warning_not_a_failure(
    ready_project: Path, tmp_path: Path
) -> None:
    state = ready_project / ".titan-deploy"
    state.mkdir(mode=0o700)
    (state / "history.jsonl").symlink_to(tmp_path / "elsewhere")
    done = run(ready_project, "--json", "render")
    assert done.returncode == 0
    doc = json.loads(done.stdout)
    assert [f["code"] for f in doc["findings"]] == ["H001"]
    assert "symlink" in doc["findings"][0]["message"]
    assert not (tmp_path / "elsewhere").exists()


def _rewrite(project: Path, change) -> None:
    log = project / ".titan-deploy" / "history.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(change(lines)))


def _problems(project: Path) -> list[str]:
    done = verify(project)
    assert done.returncode == 1, done.stdout
    doc = json.loads(done.stdout)
    assert doc["data"]["verified"] is False
    assert {f["code"] for f in doc["findings"]} <= {"H003", "H004"}
    messages = [f["message"] for f in doc["findings"]]
    assert not [m for m in messages if "history the history" in m or "history history" in m]
    return messages


def test_verify_finds_an_edited_record(recorded: Path) -> None:
    assert verify(recorded).returncode == 0

    def edit(lines: list[str]) -> list[str]:
        lines[1] = lines[1].replace('"fix":true', '"fix":false')
        return lines

    _rewrite(recorded, edit)
    assert _problems(recorded) == [
        "history line 2 (record 2): edited — its content does not match its hash"
    ]


def test_verify_finds_a_removed_middle_record(recorded: Path) -> None:
    _rewrite(recorded, lambda lines: lines[:1] + lines[2:])
    assert _problems(recorded) == ["history line 2 (record 3): record(s) 2 removed before it"]


def test_verify_finds_a_removed_last_record(recorded: Path) -> None:
    _rewrite(recorded, lambda lines: lines[:-1])
    assert _problems(recorded) == [
        "the history head names 4 record(s) but the log ends at record 3: the last 1 "
        "record(s) were removed"
    ]
    # and the next run does not paper over it: it chains from the head, so the gap stays
    assert run(recorded, "render").returncode == 0
    assert any("removed before it" in m for m in _problems(recorded))


def test_verify_finds_reordered_records(recorded: Path) -> None:
    _rewrite(recorded, lambda lines: [lines[0], lines[2], lines[1], lines[3]])
    messages = _problems(recorded)
    assert messages and messages[0].startswith("history line 2 (record 3)")


def test_verify_finds_a_removed_head(recorded: Path) -> None:
    (recorded / ".titan-deploy" / "history.head").unlink()
    assert _problems(recorded) == [
        "the history head file is missing: a removed last record cannot be detected"
    ]
    # and it stays missing: the next run does not rebuild it (that would hide a removed tail)
    done = run(recorded, "--json", "render")
    assert done.returncode == 0
    (note,) = json.loads(done.stdout)["findings"]
    assert note["code"] == "H001" and "recorded as record 5" in note["message"]
    assert "missing: not rebuilt" in note["message"]
    assert not (recorded / ".titan-deploy" / "history.head").exists()
    doc = json.loads(verify(recorded).stdout)
    assert [f["code"] for f in doc["findings"]] == ["H004"]


def test_a_head_that_cannot_be_written_says_the_run_was_recorded(recorded: Path) -> None:
    head = recorded / ".titan-deploy" / "history.head"
    head.unlink()
    os.mkfifo(head)
    done = run(recorded, "--json", "render")
    assert done.returncode == 0
    (note,) = json.loads(done.stdout)["findings"]
    assert "not recorded" not in note["message"]
    assert "recorded as record 5" in note["message"]
    assert len(records(recorded)) == 5
    doc = json.loads(verify(recorded).stdout)  # the head is reported, the chain is intact
    assert [f["code"] for f in doc["findings"]] == ["H004"]
    assert "edited —" not in doc["findings"][0]["message"]


def test_a_removed_history_is_said_when_the_journal_shows_rotations(ready_project: Path) -> None:
    from titan_deploy.core.overlay import Assignment
    from titan_deploy.core.rotation.journal import Journal
    from titan_deploy.io import journal as journal_io
    from titan_deploy.project import Project

    journal = Journal(assignments={"titan_hmac_secret": {"titan-brain": Assignment(version=2)}})
    journal_io.save(Project(project_dir=ready_project), journal)
    doc = json.loads(run(ready_project, "--json", "history").stdout)
    assert [f["code"] for f in doc["findings"]] == ["H006"]
    assert verify(ready_project).returncode == 1


def test_concurrent_runs_chain_one_after_another(ready_project: Path) -> None:
    procs = [
        subprocess.Popen(
            [str(CONSOLE_SCRIPT), "-C", str(ready_project), "render"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(6)
    ]
    assert [p.wait() for p in procs] == [0] * 6
    assert [r["seq"] for r in records(ready_project)] == [1, 2, 3, 4, 5, 6]
    assert verify(ready_project).returncode == 0


def _command_names(group, prefix: str = "") -> set[str]:
    names = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names |= _command_names(command, f"{prefix}{name} ")
        else:
            names.add(prefix + name)
    return names


def test_every_command_is_declared_state_changing_or_read_only() -> None:
    """A new command (push, ...) must say whether it is recorded: the hook is generic."""
    names = _command_names(typer.main.get_command(app))
    undeclared = names - set(boundary.STATE_CHANGING) - boundary.READ_ONLY
    assert not undeclared, f"declare these in cli/boundary.py: {sorted(undeclared)}"
    assert not set(boundary.STATE_CHANGING) & boundary.READ_ONLY


def test_a_history_that_is_not_a_regular_file_is_one_line_exit_2(ready_project: Path) -> None:
    state = ready_project / ".titan-deploy"
    state.mkdir(mode=0o700)
    os.mkfifo(state / "history.jsonl")
    done = run(ready_project, "history")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {state.resolve() / 'history.jsonl'} is a FIFO, not a regular file: not read"
    )
    assert run(ready_project, "render").returncode == 0  # not recorded (H001), never blocked
