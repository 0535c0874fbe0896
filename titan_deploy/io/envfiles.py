"""The project's `.env` / `.env.*` files for check-secrets' hygiene checks (core/envhygiene.py):
found, read bounded, and asked of git whether it tracks them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from titan_deploy.core.envhygiene import is_env_file
from titan_deploy.io import fs

MAX_DEPTH = 3  # the project dir and two levels below it (service dirs)
_SKIP_DIRS = {"node_modules", "__pycache__", "venv"}


def find(project_dir: Path, skip: set[Path]) -> list[Path]:
    """Every `.env` / `.env.*` regular file in the project dir and up to MAX_DEPTH - 1 levels
    below, sorted; hidden dirs, `skip` (the secrets and state dirs) and vendored dirs are not
    entered, symlinks are not followed."""
    found: list[Path] = []
    skipped = {os.path.abspath(p) for p in skip}
    root = os.path.abspath(project_dir)
    for current, dirs, files in os.walk(root):
        depth = os.path.relpath(current, root).count(os.sep) + (current != root)
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < MAX_DEPTH
            and not d.startswith(".")
            and d not in _SKIP_DIRS
            and os.path.join(current, d) not in skipped
        )
        for name in sorted(files):
            path = Path(current, name)
            if is_env_file(name) and not path.is_symlink() and path.is_file():
                found.append(path)
    return found


def read_text(path: Path) -> str | None:
    """The file's text (bounded, never through a symlink); None if it cannot be read."""
    try:
        return fs.read_config(path, follow_symlinks=False).decode("utf-8", "surrogateescape")
    except (OSError, fs.TooLarge, fs.UnsafeFile):
        return None


def git_tracked(project_dir: Path, paths: list[Path]) -> set[Path]:
    """Those of `paths` git tracks; empty when there is no git or no repository (the check is
    then skipped silently)."""
    if not paths:
        return set()
    rels = [os.path.relpath(p, project_dir) for p in paths]
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), "ls-files", "-z", "--", *rels],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if done.returncode != 0:
        return set()
    listed = {
        os.path.normpath(p.decode("utf-8", "surrogateescape"))
        for p in done.stdout.split(b"\0")
        if p
    }
    return {p for p, rel in zip(paths, rels, strict=True) if os.path.normpath(rel) in listed}
