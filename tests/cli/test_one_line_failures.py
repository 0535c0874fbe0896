"""Every failure is one clear line (issue 9.6): for hostile or faulty input, every command exits
with the documented code, prints exactly one `error:` line on stderr naming the file (and line)
and no traceback, and under --json prints the error document on stdout.

Cases: a recursive alias / an alias bomb (manifest, compose file), a symlink loop in the secrets
dir, an unreadable secrets dir, a malformed state.json, nan/inf/negative numeric options, a
closed or empty stdin for the exchange prompt, a full disk, click's usage errors under --json,
and a control character in the manifest (line number).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from tests.conftest import require
from titan_deploy.cli.app import app
from titan_deploy.cli.numbers import Bounded

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
ERROR_KEYS = {"command", "ok", "exit_code", "error"}
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# every command that loads the manifest, with arguments that need no engine to get that far
MANIFEST_COMMANDS = [
    ["check-secrets"],
    ["check-secrets", "--fix"],
    ["init"],
    ["render"],
    ["render", "--check"],
    ["lint"],
    ["verify"],
    ["status"],
    ["down"],
    ["audit-logs"],
    ["rotate", "status"],
    ["rotate", "hmac", "--dry-run"],
    ["rotate", "hmac", "--finish", "--dry-run"],
    ["rotate", "db", "--dry-run"],
    ["rotate", "exchange", "binance", "--dry-run"],
    ["rotate", "resume"],
    ["rotate", "abort"],
]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_line(cli, project: Path, args: list[str], code: int, expected: str) -> str:
    """Human mode: `code`, one stderr line `error: <expected>...`; --json: the error document."""
    result = cli("-C", project, *args)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (args, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if args[0] == "up":  # up's progress lines come first; the failure is still one line
        lines = error_lines(result.stderr)
    assert len(lines) == 1, (args, lines)
    assert lines[0].startswith(f"error: {expected}"), (args, lines[0])
    as_json = cli("-C", project, "--json", *args)
    assert as_json.exit_code == code
    doc = json.loads(as_json.stdout)
    assert set(doc) == ERROR_KEYS and doc["ok"] is False and doc["exit_code"] == code
    assert doc["error"] == lines[0].removeprefix("error: ")
    return lines[0]


# --- recursive aliases and alias bombs ---------------------------------------------------------


def add_to_manifest(project: Path, text: str) -> int:
    """Insert `text` before `secrets:`; return the line it starts on."""
    manifest = project / "secrets.manifest.yml"
    before, after = manifest.read_text().split("\nsecrets:\n", 1)
    manifest.write_text(f"{before}\n{text}secrets:\n{after}")
    return before.count("\n") + 2


def bomb(levels: int = 9) -> str:
    out = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    for i in range(1, levels + 1):
        out.append(f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]\n")
    return "".join(out)


@pytest.mark.parametrize("args", [*MANIFEST_COMMANDS, ["up"]], ids=" ".join)
def test_a_recursive_alias_in_the_manifest(cli, ready_project: Path, args: list[str]) -> None:
    line = add_to_manifest(ready_project, "x-loop: &loop [1, *loop]\n")
    expected = f"secrets.manifest.yml:{line}: not valid here: a recursive alias"
    assert_one_line(cli, ready_project, args, 2, expected)


@pytest.mark.parametrize(
    "args", [["check-secrets"], ["render"], ["rotate", "status"]], ids=" ".join
)
def test_an_alias_bomb_in_the_manifest(cli, ready_project: Path, args: list[str]) -> None:
    text = bomb()
    assert len(text) < 4096
    line = add_to_manifest(
        ready_project, "x-bomb:\n" + "".join(f"  {t}" for t in text.splitlines(True))
    )
    # the fifth level is the first whose expansion is over the budget
    expected = f"secrets.manifest.yml:{line + 5}: not valid here: aliases expand to more than"
    assert_one_line(cli, ready_project, args, 2, expected)


@pytest.mark.parametrize("text", [bomb(), "x-loop: &loop {a: *loop}\n"], ids=["bomb", "recursive"])
@pytest.mark.parametrize("args", [["render"], ["lint"], ["up"]], ids=" ".join)
def test_a_hostile_compose_file_is_one_line(cli, ready_project: Path, text: str, args) -> None:
    """render parses compose files itself; lint and up hand them to compose, which expands
    aliases without limit (minutes of CPU): they are checked first."""
    assert cli("-C", ready_project, "render").exit_code == 0
    prod = ready_project / "docker-compose.prod.yml"
    prod.write_text(text + prod.read_text())
    line = 5 if text.startswith("lol0") else 1
    expected = f"docker-compose.prod.yml:{line}: not valid here: a"
    message = assert_one_line(cli, ready_project, args, 2, expected)
    assert "alias" in message


def test_a_control_character_in_the_manifest_names_its_line(cli, ready_project: Path) -> None:
    manifest = ready_project / "secrets.manifest.yml"
    lines = manifest.read_text().splitlines(True)
    lines[2] = lines[2].rstrip("\n") + "  # a NEL \x85 here\n"  # PyYAML counts it as a line break
    lines[9] = lines[9].rstrip("\n") + "  # and a BEL \x07\n"
    manifest.write_text("".join(lines))
    expected = "secrets.manifest.yml:10: not valid YAML: a control character #x07 is not allowed"
    assert_one_line(cli, ready_project, ["check-secrets"], 2, expected)


# --- the secrets dir -----------------------------------------------------------------------------


def test_a_symlink_loop_in_the_secrets_dir(cli, ready_project: Path) -> None:
    path = ready_project / "secrets" / "titan_db_password"
    path.unlink()
    path.symlink_to("titan_db_password")
    expected = f"{path}: symlink loop"
    for args in (["check-secrets"], ["check-secrets", "--fix"], ["up"]):
        assert_one_line(cli, ready_project, args, 2, expected)


def test_a_secrets_dir_that_is_a_symlink_loop(cli, titan_project: Path) -> None:
    (titan_project / "secrets").symlink_to("secrets")
    expected = f"{titan_project / 'secrets'} is a symlink: titan-deploy never writes through one"
    assert_one_line(cli, titan_project, ["init"], 2, expected)


@contextlib.contextmanager
def world_readable_copy(project: Path) -> Iterator[Path]:
    """A copy of `project` that uid 65534 can reach (pytest's tmp dirs are 0700 root)."""
    top = Path(tempfile.mkdtemp(prefix="tdtest-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        copy = top / "project"
        shutil.copytree(project, copy, symlinks=True)
        for root, dirs, files in os.walk(copy):
            for name in [*dirs, *files]:
                os.chown(Path(root, name), 65534, 65534, follow_symlinks=False)
        os.chown(copy, 65534, 65534)
        yield copy
    finally:
        shutil.rmtree(top)


def test_an_unreadable_secrets_dir(ready_project: Path) -> None:
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    probe = subprocess.run([*AS_NOBODY, str(CONSOLE_SCRIPT), "--help"], capture_output=True)
    # a checkout under a dir closed to uid 65534 (e.g. /root) cannot run this: fail in CI, where
    # .ci/run clones into /tmp, rather than skip silently
    require(probe.returncode == 0, "the venv must be usable by uid 65534 (a checkout it can read)")
    with world_readable_copy(ready_project) as project:
        os.chmod(project / "secrets", 0)
        for args, code in (
            (["check-secrets"], 2),
            (["rotate", "hmac", "--dry-run"], 2),
            (["audit-logs", "--file", "/dev/null"], 2),
        ):
            for mode in ([], ["--json"]):
                done = subprocess.run(
                    [*AS_NOBODY, str(CONSOLE_SCRIPT), "-C", str(project), *mode, *args],
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
                assert done.returncode == code, (args, done.stderr)
                assert "Traceback" not in done.stderr
                lines = done.stderr.splitlines()
                assert len(lines) == 1 and "permission denied" in lines[0], (args, lines)
                assert str(project / "secrets") in lines[0]
                if mode:
                    assert json.loads(done.stdout)["exit_code"] == code


# --- the rotation journal ------------------------------------------------------------------------

MALFORMED_JOURNALS = [
    "not json {",
    "[]",
    '{"assignments": "x"}',
    '{"assignments": {"titan_db_password": 3}}',
    '{"assignments": {"titan_db_password": {"postgres": {"version": "x"}}}}',
    '{"assignments": {"titan_db_password": {"postgres": {"version": 0}}}}',
    '{"active": 5}',
    '{"active": {"procedure": "hmac"}}',
    '{"history": {"x": 1}}',
    '{"history": [1]}',
    '{"last_version": {"a": "x"}}',
    '{"pending": "abc"}',
    "[" * 100_000,
    "\xff\xfe",
]


@pytest.mark.parametrize("doc", MALFORMED_JOURNALS, ids=range(len(MALFORMED_JOURNALS)))
def test_a_malformed_state_json(cli, ready_project: Path, doc: str) -> None:
    state = ready_project / ".titan-deploy"
    state.mkdir()
    (state / "state.json").write_bytes(doc.encode("latin-1", "replace"))
    expected = f"{state / 'state.json'}: unreadable rotation journal"
    for args in (
        ["render"],
        ["rotate", "status"],
        ["rotate", "db", "--dry-run"],
        ["rotate", "abort"],
    ):
        assert_one_line(cli, ready_project, args, 2, expected)


# --- numeric options -----------------------------------------------------------------------------


def bounded_options() -> list[tuple[list[str], str, Bounded]]:
    """(command path, option, type) for every numeric option of the CLI."""
    out = []

    def walk(command, path: list[str]) -> None:
        for param in getattr(command, "params", []):
            if param.param_type_name == "option" and isinstance(param.type, Bounded):
                out.append((path, param.opts[0], param.type))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


# (command path, option): every numeric option of the CLI (test_every_numeric_option_is_bounded
# proves the list complete)
NUMERIC = [
    (["up"], "--timeout"),
    (["adopt"], "--secrets-gid"),
    (["history"], "--limit"),
    *[
        (["rotate", sub], option)
        for sub in ("hmac", "db", "exchange", "secret", "nats", "resume", "abort")
        for option in ("--timeout", "--stop-timeout", "--settle")
    ],
    *[
        (["rotate", sub], "--auth-failure-threshold")
        for sub in ("hmac", "db", "exchange", "secret", "nats", "resume")
    ],
    (["rotate", "hmac"], "--min-age"),
    (["rotate", "exchange"], "--wait-timeout"),
    (["rotate", "exchange"], "--log-timeout"),
    (["rotate", "secret"], "--log-timeout"),
    (["rotate", "nats"], "--log-timeout"),
    (["rotate", "resume"], "--log-timeout"),
    (["rotate", "abort"], "--log-timeout"),
]


def test_every_numeric_option_is_bounded() -> None:
    unbounded = []

    def walk(command) -> None:
        for param in getattr(command, "params", []):
            kind = type(param.type).__name__
            if kind in ("IntParamType", "FloatParamType", "IntRange", "FloatRange"):
                unbounded.append(param.opts[0])
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert unbounded == [], f"numeric options without bounds: {unbounded}"
    bounded = sorted((" ".join(path), option) for path, option, _ in bounded_options())
    assert bounded == sorted((" ".join(path), option) for path, option in NUMERIC)


@pytest.mark.parametrize(
    ("path", "option"), NUMERIC, ids=[f"{' '.join(p)} {o}" for p, o in NUMERIC]
)
@pytest.mark.parametrize("bad", ["nan", "-inf", "-1", "1e400"])
def test_a_bad_number_is_a_usage_error(cli, tmp_path: Path, path, option, bad) -> None:
    name = {"exchange": ["binance"], "secret": ["gemini_api_key"]}.get(path[-1], [])
    args = [*path, *name]
    args += ["--finish"] if option == "--min-age" else []
    result = cli("-C", tmp_path, *args, f"{option}={bad}")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Invalid value for '{option}'")
    as_json = cli("-C", tmp_path, "--json", *args, f"{option}={bad}")
    doc = json.loads(as_json.stdout)
    assert doc["exit_code"] == 2 and doc["command"] == " ".join(path) and option in doc["error"]


def test_good_numbers_still_parse() -> None:
    assert Bounded(float, maximum=10).convert("0", None, None) == 0.0
    assert Bounded(int, maximum=10, positive=True).convert("7", None, None) == 7
    assert Bounded(float, maximum=10, positive=True).convert(2.5, None, None) == 2.5


# --- stdin for the exchange prompt ---------------------------------------------------------------


def test_exchange_with_stdin_at_eof(cli, ready_project: Path) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    for mode in ([], ["--json"]):
        result = runner.invoke(
            app, ["-C", str(ready_project), *mode, "rotate", "exchange", "binance"], input=""
        )
        assert result.exit_code == 2, result.output
        assert error_lines(result.stderr) == [
            "error: stdin is empty: give 2 values (binance_api_key, binance_api_secret): "
            "--from-file once per value, one per line on stdin, or run on a terminal to be "
            "prompted"
        ]
        if mode:
            assert json.loads(result.stdout)["command"] == "rotate exchange"


@pytest.mark.parametrize("how", ["devnull", "closed"])
def test_exchange_with_stdin_closed(ready_project: Path, how: str) -> None:
    kwargs = (
        {"stdin": subprocess.DEVNULL}
        if how == "devnull"
        else {"preexec_fn": lambda: os.close(0)}  # runs in the child
    )
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "-C", str(ready_project), "rotate", "exchange", "binance"],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    word = "empty" if how == "devnull" else "closed"
    assert lines[0].startswith(f"error: stdin is {word}: give 2 values"), lines


# --- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def full_disk(titan_project: Path) -> Iterator[Path]:
    """The project on a 128 KiB tmpfs, filled up (the mount is removed afterwards)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        require(False, "needs root to mount a tmpfs")
    mountpoint = Path(tempfile.mkdtemp(prefix="tdtest-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        mountpoint.rmdir()
        require(False, f"cannot mount a tmpfs: {done.stderr!r}")
    try:
        project = mountpoint / "project"
        shutil.copytree(titan_project, project)
        (project / "docker-compose.secrets.yml").unlink()
        with contextlib.suppress(OSError), open(mountpoint / "filler", "wb") as filler:
            filler.write(b"\0" * (1 << 20))
        yield project
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        mountpoint.rmdir()


def test_a_full_disk_names_the_file(cli, full_disk: Path) -> None:
    project = full_disk
    overlay = project / "docker-compose.secrets.yml"
    assert_one_line(cli, project, ["render"], 3, f"{overlay}: no space left on device")
    line = assert_one_line(cli, project, ["init"], 3, f"{project}/")
    assert line.endswith(": no space left on device: free some space, then run the command again")
    assert not list(project.rglob("*.tmp-*"))


# --- click's usage errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["check-secrets", "--bogus"], "check-secrets"),
        (["--bogus", "check-secrets"], "check-secrets"),
        (["render", "--check=maybe"], "render"),
        (["init", "--from"], "init"),
        (["no-such-command"], "titan-deploy"),
        (["check-secrets", "extra-argument"], "check-secrets"),
        (["rotate", "exchange"], "rotate exchange"),
        (["rotate", "hmac", "--bogus"], "rotate hmac"),
        (["up", "--timeout", "soon"], "up"),
        (["check-secrets", "--json"], "check-secrets"),  # --json after the command
        ([], "titan-deploy"),
        (["rotate"], "rotate"),
    ],
)
def test_usage_errors_under_json_are_the_error_document(
    cli, titan_project: Path, args: list[str], command: str
) -> None:
    result = cli("-C", titan_project, "--json", *args)
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == ERROR_KEYS
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["command"] == command
    assert "--help" in doc["error"]
    assert result.stderr.splitlines() == [f"error: {doc['error']}"]
    if args and args != ["rotate"] and "--json" not in args:  # a bare group shows its help
        human = cli("-C", titan_project, *args)
        assert human.exit_code == 2 and human.stdout == ""
        lines = human.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "--help" in lines[0]
