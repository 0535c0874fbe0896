"""The compose driver as data (Kamal style): argv compared with literal lists; the one runner
mapping failures to typed errors; Compose v1 refused. No engine needed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from titan_deploy.errors import ComposeError, RuntimeFailure
from titan_deploy.io.compose import ComposeCommand, command_for
from titan_deploy.io.composerun import classify_failure, compose_version, find_compose, run

CMD = ComposeCommand(
    base=("docker", "compose"),
    files=("/srv/titan/docker-compose.prod.yml", "/srv/titan/docker-compose.secrets.yml"),
    project_dir="/srv/titan",
    project_name="titan",
)
PREFIX = [
    "docker",
    "compose",
    "--project-directory",
    "/srv/titan",
    "-f",
    "/srv/titan/docker-compose.prod.yml",
    "-f",
    "/srv/titan/docker-compose.secrets.yml",
    "-p",
    "titan",
]


def test_config() -> None:
    """lint judges the files: every profile's services (`--profile *`)."""
    assert CMD.config() == [
        *PREFIX,
        "--profile",
        "*",
        "config",
        "--no-interpolate",
        "--format",
        "json",
    ]


def test_profiles_and_env_files_reach_every_call() -> None:
    cmd = ComposeCommand(
        base=("docker", "compose"),
        files=("/srv/titan/c.yml",),
        project_dir="/srv/titan",
        profiles=("debug", "ops"),
        env_files=("/srv/titan/.env.prod",),
    )
    prefix = ["docker", "compose", "--project-directory", "/srv/titan", "-f", "/srv/titan/c.yml"]
    opts = ["--profile", "debug", "--profile", "ops", "--env-file", "/srv/titan/.env.prod"]
    assert cmd.services() == [*prefix, *opts, "config", "--services"]
    assert cmd.validate() == [*prefix, *opts, "config", "--quiet"]
    assert cmd.config_interpolated() == [*prefix, *opts, "config", "--format", "json"]
    assert cmd.down()[: len(prefix) + len(opts)] == [*prefix, *opts]
    assert cmd.up(5)[: len(prefix) + len(opts)] == [*prefix, *opts]
    assert cmd.up_no_deps(5, ["x"])[: len(prefix) + len(opts)] == [*prefix, *opts]
    env = ["--env-file", "/srv/titan/.env.prod"]
    tail = ["config", "--no-interpolate", "--format", "json"]
    assert cmd.config() == [*prefix, "--profile", "*", *env, *tail]


def test_config_interpolated() -> None:
    assert CMD.config_interpolated() == [*PREFIX, "config", "--format", "json"]


def test_up() -> None:
    assert CMD.up(120) == [
        *PREFIX,
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "120",
        "--remove-orphans",
        "--pull",
        "never",
        "--no-build",
    ]


def test_up_with_build_and_services() -> None:
    assert CMD.up(60, services=["titan-brain", "grafana"], build=True) == [
        *PREFIX,
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "60",
        "--remove-orphans",
        "--pull",
        "never",
        "--build",
        "titan-brain",
        "grafana",
    ]


def test_up_no_deps() -> None:
    assert CMD.up_no_deps(30, ["titan-execution"]) == [
        *PREFIX,
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "30",
        "--no-deps",
        "--pull",
        "never",
        "--no-build",
        "titan-execution",
    ]


def test_down() -> None:
    assert CMD.down() == [*PREFIX, "down", "--remove-orphans", "--timeout", "10"]
    assert CMD.down(volumes=True, timeout=5) == [
        *PREFIX,
        "down",
        "--remove-orphans",
        "--timeout",
        "5",
        "--volumes",
    ]


def test_standalone_binary_without_project_name_with_profiles() -> None:
    cmd = ComposeCommand(
        base=("docker-compose",),
        files=("a.yml",),
        project_dir="/p",
        profiles=("edge", "monitoring"),
    )
    assert cmd.config_interpolated() == [
        "docker-compose",
        "--project-directory",
        "/p",
        "-f",
        "a.yml",
        "--profile",
        "edge",
        "--profile",
        "monitoring",
        "config",
        "--format",
        "json",
    ]


def test_argv_builders_do_no_io_and_return_fresh_lists() -> None:
    first = CMD.config()
    first.append("mutated")
    assert CMD.config()[-1] == "json"


# --- the one runner ------------------------------------------------------------------------------


def fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_run_returns_output(tmp_path: Path) -> None:
    script = fake(tmp_path, "ok", 'echo "{\\"services\\": {}}"')
    done = run([str(script)], what="docker compose config")
    assert done.returncode == 0
    assert done.stdout.strip() == '{"services": {}}'


def test_run_failure_is_a_compose_error_with_argv_code_and_stderr(tmp_path: Path) -> None:
    script = fake(tmp_path, "fail", 'echo "noise" >&2; echo "service x: bad" >&2; exit 14')
    with pytest.raises(ComposeError) as caught:
        run([str(script), "config"], what="docker compose config")
    err = caught.value
    assert err.argv == [str(script), "config"]
    assert err.returncode == 14
    assert err.stderr == "noise\nservice x: bad\n"
    assert err.message == "docker compose config failed (exit 14): service x: bad"
    assert err.exit_code == 3


def test_run_missing_binary_is_a_runtime_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        run([str(tmp_path / "nope"), "config"], what="docker compose config")
    assert str(caught.value).startswith(f"{tmp_path / 'nope'} not found: install Docker Compose v2")


def test_run_timeout_kills_and_raises(tmp_path: Path) -> None:
    script = fake(tmp_path, "slow", "exec sleep 30")
    with pytest.raises(ComposeError) as caught:
        run([str(script)], what="docker compose up", timeout=0.3)
    assert caught.value.message == "docker compose up timed out after 0s"
    assert caught.value.returncode == -1


def test_classify_unreachable_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    err = classify_failure(
        "docker compose up",
        ["docker", "compose", "up"],
        1,
        "Cannot connect to the Docker daemon at unix:///nowhere.sock. Is the daemon running?",
    )
    assert err.message == (
        "docker compose up: the Docker engine is unreachable at unix:///nowhere.sock "
        "(is dockerd running?)"
    )


def test_classify_keeps_only_the_last_line_short() -> None:
    err = classify_failure("x", ["x"], 2, "first\n" + "y" * 1000 + "\n\n")
    assert err.message == "x failed (exit 2): " + "y" * 300
    assert classify_failure("x", ["x"], 2, "").message == "x failed (exit 2)"


# --- finding Compose v2 --------------------------------------------------------------------------


def test_compose_version_parses_short_output(tmp_path: Path) -> None:
    assert compose_version([str(fake(tmp_path, "c", "echo v2.40.3"))]) == (2, 40, 3)
    assert compose_version([str(fake(tmp_path, "d", "echo 1.29.2"))]) == (1, 29, 2)
    assert compose_version([str(fake(tmp_path, "e", "exit 1"))]) is None
    assert compose_version([str(tmp_path / "missing")]) is None


def test_find_compose_prefers_the_override(tmp_path: Path) -> None:
    script = fake(tmp_path, "compose2", "echo 2.30.0")
    assert find_compose({"TITAN_COMPOSE": f"{script} compose"}) == (str(script), "compose")


def test_find_compose_refuses_v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(tmp_path, "docker-compose", "echo 1.29.2")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeFailure) as caught:
        find_compose({})
    assert str(caught.value).startswith("Docker Compose v1 is not supported: install")


def test_find_compose_standalone_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake(tmp_path, "docker-compose", "echo 2.24.0")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_compose({}) == ("docker-compose",)


def test_find_compose_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeFailure) as caught:
        find_compose({})
    assert str(caught.value).startswith("Docker Compose v2 not found: install")


def test_the_real_compose_is_v2() -> None:
    base = find_compose(dict(os.environ))
    version = compose_version(base)
    assert version is not None and version[0] >= 2


def test_command_for_makes_files_absolute(tmp_path: Path) -> None:
    cmd = command_for(tmp_path, ["docker-compose.prod.yml", "sub/o.yml"], "p1")
    assert cmd.files == (f"{tmp_path}/docker-compose.prod.yml", f"{tmp_path}/sub/o.yml")
    assert cmd.project_dir == str(tmp_path)
    assert cmd.project_name == "p1"


def test_recreate_forces_only_the_named_services() -> None:
    """`up` applying an edited secret file: compose sees no config change, so it must be told."""
    assert CMD.up_no_deps(30, ["grafana"], force=True) == [
        *PREFIX,
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "30",
        "--force-recreate",
        "--no-deps",
        "--pull",
        "never",
        "--no-build",
        "grafana",
    ]
