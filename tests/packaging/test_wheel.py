"""The wheel works on its own (issue 2, item 1): build it, install it into a fresh venv, and
render from a directory outside the repository, so the templates must ship inside the wheel.

Slow (a wheel build and a venv install, ~30 s); needs the package index pip is configured with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "titan_deploy", "templates")


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_installed_wheel_renders_outside_the_repo(tmp_path: Path) -> None:
    # build from a copy, so the repository gets no build/ or egg-info from this test
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)], cwd=src)
    (wheel,) = dist.glob("titan_deploy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "titan_deploy/templates/docker-compose.secrets.yml.j2" in names
    assert "titan_deploy/schema/manifest.schema.json" in names  # README "Manifest schema"
    assert not [n for n in names if n.startswith(("tests/", "demo/", "secrets"))]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path, env=env)

    project = tmp_path / "project"
    project.mkdir()
    for name in ("secrets.manifest.yml", "docker-compose.prod.yml"):
        shutil.copy2(REPO / name, project / name)
    # the project's own config templates (`configs:` reads them from the project, not the wheel)
    (project / "templates").mkdir()
    for template in ("redis.conf.j2", "nats_auth.conf.j2"):
        shutil.copy2(REPO / "templates" / template, project / "templates" / template)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(
        [str(python), "-c", "import titan_deploy, sys; print(titan_deploy.__file__)"],
        cwd=elsewhere,
        env=env,
    )
    assert Path(where.strip()).is_relative_to(env_dir), where  # not the editable install
    out = run(
        [str(env_dir / "bin" / "titan-deploy"), "-C", str(project), "render"],
        cwd=elsewhere,
        env=env,
    )
    assert "wrote docker-compose.secrets.yml" in out
    overlay = project / "docker-compose.secrets.yml"
    assert overlay.read_text() == (REPO / "docker-compose.secrets.yml").read_text()
    run(
        [str(env_dir / "bin" / "titan-deploy"), "-C", str(project), "render", "--check"],
        cwd=elsewhere,
        env=env,
    )
