"""`verify` proves what the reading process sees, on a real engine (issue 8; issue 9 class 3).

- a secret replaced on the host by a rename that keeps the old mtime (rsync -a, cp -p + mv,
  tar x, install -p) or rewritten in place by cp -p: the container keeps the old inode or the
  service the old value; verify says so, through the container's own view (/proc/<pid>/root),
  and through the archive fallback (host ctime);
- `X` set beside `X_FILE` in the running container, and an `X_FILE` pointing at nothing mounted;
- a process that dropped privileges (busybox `su`, like gosu) and lost the secrets group;
- a value in the argv of a process running in a consumer;
- a secret swapped (symlink out of the secrets dir, or a rename) between check-secrets and
  compose inside `up`: what was deployed is not what was checked.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.stackkit import LOOP, assert_no_canary
from titan_deploy.core.timespec import parse_timestamp

pytestmark = pytest.mark.docker

GID = 10500


def rows_by_pair(result) -> dict[tuple[str, str], dict]:
    doc = json.loads(result.stdout)
    return {(r["service"], r["secret"]): r for r in doc["rows"]}


def up(stack) -> None:
    result = stack.td("up", "--timeout", "60")
    assert result.returncode == 0, result.output


def started_at(stack, service: str) -> float:
    cid = stack.compose("ps", "-q", service).stdout.split()[0]
    stamp = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.StartedAt}}", cid],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    value = parse_timestamp(stamp)
    assert value is not None
    return value


def staged_value(stack, tmp_path: Path, name: str) -> Path:
    """A new value for `name` outside the secrets dir: 0640 root:GID, mtime from before the
    container started (so an mtime check cannot see the change)."""
    value = secrets.token_urlsafe(32).encode()
    stack.values[f"{name}-replacement"] = value
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    src = staging / name
    src.write_bytes(value)
    os.chmod(src, 0o640)
    os.chown(src, -1, GID)
    past = stack.secret_path(name).stat().st_mtime - 100
    os.utime(src, (past, past))
    return src


def run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True)


def rsync_a(src: Path, dst: Path) -> None:
    if shutil.which("rsync") is None:
        pytest.fail("rsync is not installed (`apt-get install rsync`; .ci/run installs it)")
    run("rsync", "-a", src, dst)  # writes .<name>.XXXXXX beside dst, sets times, renames


def cp_p_mv(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.new")
    run("cp", "-p", src, tmp)
    run("mv", tmp, dst)


def tar_x(src: Path, dst: Path) -> None:
    archive = src.parent / "new.tar"
    run("tar", "-C", src.parent, "-cf", archive, src.name)
    run("tar", "-C", dst.parent, "-xpf", archive)


def install_p(src: Path, dst: Path) -> None:
    run("install", "-p", "-m", "0640", "-g", str(GID), src, dst)


RENAMES = {"rsync -a": rsync_a, "cp -p + mv": cp_p_mv, "tar x": tar_x, "install -p": install_p}


@pytest.mark.parametrize("style", list(RENAMES))
def test_secret_replaced_by_a_rename_keeping_the_mtime_is_a_stale_mount(stack, tmp_path, style):
    s = stack()
    up(s)
    path = s.secret_path("api_token")
    before = path.stat()
    src = staged_value(s, tmp_path, "api_token")
    RENAMES[style](src, path)
    after = path.stat()
    assert after.st_ino != before.st_ino, "the style must replace the file (new inode)"
    assert after.st_mtime < started_at(s, "signer"), "the style must keep an old mtime"

    verify = s.td("--json", "verify")
    assert verify.returncode == 1, verify.output
    rows = rows_by_pair(verify)
    row = rows[("signer", "api_token")]
    assert row["content"] is False
    assert row["method"] == "proc-root"
    assert "/run/secrets/api_token differs from the host file" in row["problem"]
    assert s.name in row["problem"]  # the container is named
    for pair in (("signer", "db_password"), ("reader", "db_password")):
        assert not rows[pair]["problem"] and rows[pair]["method"] == "proc-root"
    assert_no_canary(s)


def test_secret_rewritten_in_place_with_its_old_mtime_is_named(stack, tmp_path):
    """cp -p onto the file: same inode (the container sees the new bytes), old mtime put back;
    the service still runs with what it read at start."""
    s = stack()
    up(s)
    path = s.secret_path("db_password")
    before = path.stat()
    src = staged_value(s, tmp_path, "db_password")
    run("cp", "-p", src, path)
    assert path.stat().st_ino == before.st_ino
    assert path.stat().st_mtime < started_at(s, "reader")
    rows = rows_by_pair(s.td("--json", "verify"))
    for pair in (("signer", "db_password"), ("reader", "db_password")):
        assert rows[pair]["content"] is False
        assert (
            "changed after the container started (content, owner or mode)"
            in (rows[pair]["problem"])
        )
    assert not rows[("signer", "api_token")]["problem"]
    assert_no_canary(s)


def test_archive_fallback_names_a_rename_by_the_host_ctime(stack, tmp_path):
    """Not root or a remote engine: no container view. The archive API may re-read the host
    path, but the renamed file's ctime is after the container's start; the row says how."""
    import docker

    from titan_deploy.io.engine import Engine
    from titan_deploy.ops.verify import verify_report
    from titan_deploy.project import Project

    s = stack()
    up(s)
    engine = Engine(docker.from_env(), local=False)
    project = Project(project_dir=s.root, project_name=s.name)
    clean = verify_report(project, engine)
    assert clean.ok, [f.message for f in clean.errors]
    assert {r["method"] for r in clean.rows} == {"archive+ctime"}
    assert clean.data["fallback"] == ["the container's own view is disabled"]

    rsync_a(staged_value(s, tmp_path, "api_token"), s.secret_path("api_token"))
    report = verify_report(project, engine)
    rows = {(r["service"], r["secret"]): r for r in report.rows}
    row = rows[("signer", "api_token")]
    assert row["content"] is False and row["method"] == "archive+ctime"
    assert "after the container started" in row["problem"] or "differs" in row["problem"]
    assert not rows[("reader", "db_password")]["problem"]
    assert_no_canary(s, json.dumps(report.to_dict()))


# --- class 2: X beside X_FILE, X_FILE pointing nowhere ---


def test_x_set_beside_x_file_in_the_running_container_fails(stack):
    """`environment:` sets DB_PASSWORD too (lint's side is static; this is the deployed env):
    the service would ignore the file. Deployed with compose directly, as an operator might."""
    s = stack()
    assert s.td("render").returncode == 0

    def both(doc):
        doc["services"]["reader"]["environment"] = {
            "DB_PASSWORD": "",
            "CACHE_TOKEN_FILE": "/run/secrets/cache_token",
        }

    s.edit_compose(both)
    done = s.compose("up", "-d", "--wait")
    assert done.returncode == 0, done.stderr
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    rows = rows_by_pair(verify)
    row = rows[("reader", "db_password")]
    assert row["env"] is False
    assert (
        "DB_PASSWORD is set beside DB_PASSWORD_FILE: the service ignores the file"
        in (row["problem"])
    )
    assert (
        "CACHE_TOKEN_FILE points at /run/secrets/cache_token, where nothing is mounted"
        in (row["problem"])
    )
    codes = {f["code"]: f["severity"] for f in json.loads(verify.stdout)["findings"]}
    assert codes == {"V007": "error", "V008": "error"}
    assert not rows[("signer", "db_password")]["problem"]
    assert_no_canary(s)


# --- class 3: readable by the processes that run ---


def test_process_that_dropped_the_secrets_group_is_named(stack):
    """Starts as root with group_add (root's sh can read), then `su app` like gosu: the child
    runs as uid 1000 with app's groups only, and cannot read /run/secrets/db_password."""
    s = stack()

    def drop(doc):
        doc["services"]["reader"].pop("user", None)
        inner = LOOP.replace("'", "'\"'\"'")
        doc["services"]["reader"]["command"] = [
            "sh",
            "-c",
            f"trap 'exit 0' TERM; busybox su app -c '{inner}' & wait",
        ]

    s.edit_compose(drop)
    result = s.td("up", "--timeout", "60")
    assert result.returncode == 1, result.output
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    row = rows_by_pair(verify)[("reader", "db_password")]
    assert row["readable"] is False and row["method"] == "proc-root"
    assert "is unreadable by its process pid " in row["problem"]
    assert "(sh: uid 1000, gid 1000, groups 1000)" in row["problem"]
    assert "uid 0" not in row["problem"]  # root's sh, which can read, is not named
    assert_no_canary(s)


def test_every_running_process_can_read_is_ok(stack):
    """The configured user 1000 with group_add and a child of it: every process keeps the
    group, and readability is judged for the processes themselves (no +config-user)."""
    s = stack()

    def child(doc):
        inner = LOOP.replace("'", "'\"'\"'")
        doc["services"]["reader"]["command"] = ["sh", "-c", f"sh -c '{inner}' & wait"]

    s.edit_compose(child)
    up(s)
    verify = s.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    rows = rows_by_pair(verify)
    assert {r["method"] for r in rows.values()} == {"proc-root"}
    assert all(r["readable"] for r in rows.values())


# --- class 4: values outside environment: ---


def test_value_in_a_running_process_argv_is_flagged(stack):
    """`sh -c 'cmd "$(cat /run/secrets/x)"'`: the compose file holds no value, the child's
    argv does (visible in ps to every local user)."""
    s = stack()

    def argv(doc):
        inner = LOOP.replace("'", "'\"'\"'")
        doc["services"]["reader"]["command"] = [
            "sh",
            "-c",
            f"sh -c '{inner}' worker \"$$(cat /run/secrets/db_password)\" & wait",
        ]

    s.edit_compose(argv)
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 1  # lint sees the secret read onto a command line (L011)
    assert "L011" in {f["code"] for f in json.loads(up.stdout)["findings"]}
    # deployed anyway, around titan-deploy: verify still catches the value in the argv
    deployed = s.compose("up", "--detach", "--wait", "--wait-timeout", "60", "--pull", "never")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    verify = s.td("--json", "verify")
    leaks = [f for f in json.loads(verify.stdout)["findings"] if f["code"] == "V006"]
    assert [(f["service"], f["secret"]) for f in leaks] == [("reader", "db_password")]
    assert " (sh) argv" in leaks[0]["message"] and "process " in leaks[0]["message"]
    assert rows_by_pair(verify)[("reader", "db_password")]["no_leak"] is False
    assert_no_canary(s)


# --- issue 9 class 3: what is verified is what was checked ---


def _swap_symlink_out(stack, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"unchecked-" + secrets.token_hex(20).encode())
    os.chmod(outside, 0o640)
    os.chown(outside, -1, GID)
    stack.values["outside"] = outside.read_bytes()
    path = stack.secret_path("api_token")
    path.unlink()
    path.symlink_to(outside)


def _swap_rename_in(stack, tmp_path: Path) -> None:
    src = staged_value(stack, tmp_path, "api_token")
    os.replace(src, stack.secret_path("api_token"))


@pytest.mark.parametrize("swap", [_swap_symlink_out, _swap_rename_in], ids=["symlink", "rename"])
def test_secret_swapped_between_check_and_compose_fails_up(stack, tmp_path, monkeypatch, swap):
    from titan_deploy.io import composerun
    from titan_deploy.ops import stack as stack_ops
    from titan_deploy.ops.up import run_up
    from titan_deploy.project import Project

    s = stack()
    real_run = composerun.run
    swapped = []

    def run_then_swap(argv, **kwargs):
        if "up" in argv and not swapped:  # after check-secrets, render and lint passed
            swap(s, tmp_path)
            swapped.append(True)
        return real_run(argv, **kwargs)

    monkeypatch.setattr(composerun, "run", run_then_swap)
    project = Project(project_dir=s.root, project_name=s.name)
    report = run_up(project, stack_ops.real(), timeout=60)
    assert swapped
    assert not report.ok
    rows = {(r["service"], r["secret"]): r for r in report.rows}
    row = rows[("signer", "api_token")]
    assert row["content"] is False
    assert "differs from the host file check-secrets passed" in row["problem"]
    assert not rows[("signer", "db_password")]["problem"]
    text = json.dumps(report.to_dict())
    if swap is _swap_symlink_out:
        assert "api_token is a symlink resolving outside the secrets dir" in row["problem"]
        standalone = s.td("--json", "verify")  # no snapshot: the symlink alone fails it
        assert standalone.returncode == 1
        assert rows_by_pair(standalone)[("signer", "api_token")]["content"] is False
    assert_no_canary(s, text)
