"""The shipped `.pre-commit-hooks.yaml` (README "pre-commit hooks") run by the real `pre-commit`
on a temp git repository that uses a `file://` clone of the hook file as its hook repo. Offline:
the hooks are `language: system` (pre-commit installs nothing) and call the titan-deploy on PATH;
PRE_COMMIT_HOME is in tmp_path."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.canary import Canaries
from tests.conftest import require
from tests.paths import REPO

BIN = Path(sys.executable).parent
HOOKS = ["check-secrets", "render-check", "lint"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    require(shutil.which("git") is not None, "git is needed for pre-commit")
    require((BIN / "pre-commit").exists(), "pre-commit (a dev dependency) is not installed")
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    out.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        GIT_CONFIG_GLOBAL=str(gitconfig),
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        NO_COLOR="1",
    )
    return out


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    """A git repo holding this repository's .pre-commit-hooks.yaml: (file:// url, commit)."""
    repo = tmp_path / "hooks"
    repo.mkdir()
    shutil.copy2(REPO / ".pre-commit-hooks.yaml", repo / ".pre-commit-hooks.yaml")
    git(repo, env, "init", "-q")
    git(repo, env, "add", ".pre-commit-hooks.yaml")
    git(repo, env, "commit", "-q", "-m", "hooks")
    return repo.as_uri(), git(repo, env, "rev-parse", "HEAD")


def run_hooks(project: Path, env: dict[str, str], *hooks: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "pre-commit"), "run", "--all-files", "--color", "never", *hooks],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def repo(ready_project: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """The Titan project as a git repo whose .pre-commit-config.yaml uses the three hooks."""
    url, rev = hook_repo(tmp_path, env)
    config = {"repos": [{"repo": url, "rev": rev, "hooks": [{"id": h} for h in HOOKS]}]}
    (ready_project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(ready_project, env, "init", "-q")
    subprocess.run(
        [str(BIN / "titan-deploy"), "-C", str(ready_project), "init"], env=env, check=True
    )
    git(ready_project, env, "add", "-A")
    git(ready_project, env, "commit", "-q", "-m", "project")
    return ready_project


def test_the_hooks_pass_on_a_clean_project(repo: Path, env: dict[str, str]) -> None:
    require(shutil.which("docker") is not None, "the lint hook runs docker compose config")
    done = run_hooks(repo, env)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("titan-deploy check-secrets", "titan-deploy render --check", "titan-deploy lint"):
        assert any(line.startswith(name) and "Passed" in line for line in done.stdout.splitlines())


def test_the_hooks_fail_on_a_bad_secret_and_a_stale_overlay(
    repo: Path, env: dict[str, str], titan_values: dict[str, bytes]
) -> None:
    os.chmod(repo / "secrets" / "bybit_api_key", 0o644)
    overlay = repo / "docker-compose.secrets.yml"
    stale = overlay.read_text().replace('"10500"', '"10501"')
    overlay.write_text(stale)
    git(repo, env, "add", "docker-compose.secrets.yml")
    done = run_hooks(repo, env, "check-secrets")
    assert done.returncode == 1
    assert "S003" in done.stdout or "mode" in done.stdout
    done_render = run_hooks(repo, env, "render-check")
    assert done_render.returncode == 1
    assert "differs from the manifest" in done_render.stdout
    assert overlay.read_text() == stale  # --check writes nothing
    assert stat.S_IMODE((repo / "secrets" / "bybit_api_key").stat().st_mode) == 0o644
    canaries = Canaries(titan_values)
    for out in (done, done_render):
        canaries.assert_clean(out.stdout + out.stderr, "pre-commit output")
