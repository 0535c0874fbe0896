"""Filesystem effects: atomic, permission-safe writes and the safe fixes of check-secrets.

A secret file is created 0600 (never world-readable, not even for an instant: the temp file is
opened with that mode), written, fsynced, given its final mode/group, renamed over the target and
the directory fsynced — so a crash leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from titan_deploy.core.checks import Fix, GitFacts
from titan_deploy.errors import RuntimeFailure, names_its_path


@names_its_path
def atomic_write(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    gid: int | None = None,
    before_replace: Callable[[Path], None] | None = None,
) -> None:
    """Replace `path` with `data` atomically; the temp file lives in the same dir.

    `before_replace(tmp)` runs once the temp file is complete and fsynced, just before the rename
    (the rotation's crash-injection tests kill the process there)."""
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # a leftover of a crashed run: never reuse it, nor its mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if gid is not None:
                os.fchown(handle.fileno(), -1, gid)
            os.fchmod(handle.fileno(), mode)
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


@names_its_path
def write_new(path: Path, data: bytes, mode: int = 0o600, gid: int | None = None) -> bool:
    """Create `path` only if it does not exist (never overwrite a secret). True if written."""
    if path.exists() or path.is_symlink():
        return False
    atomic_write(path, data, mode, gid)
    return True


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path, mode: int, gid: int | None = None) -> bool:
    """Create `path` with `mode` (and group) if missing. True if created."""
    created = False
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        created = True
    if created:
        if gid is not None:
            chgrp(path, gid)
        os.chmod(path, mode)
    return created


def chgrp(path: Path, gid: int) -> None:
    try:
        os.chown(path, -1, gid, follow_symlinks=False)
    except PermissionError:
        raise RuntimeFailure(
            f"cannot give {path} to group {gid}: run as root or as a member of that group"
        ) from None


def apply_fix(fix: Fix) -> None:
    """Apply one mechanical fix from check-secrets."""
    if fix.action == "chmod" and fix.mode is not None:
        os.chmod(fix.path, fix.mode)
    elif fix.action == "chgrp" and fix.gid is not None:
        chgrp(fix.path, fix.gid)
    elif fix.action == "strip-newline":
        st = fix.path.stat()
        data = fix.path.read_bytes()
        if data.endswith(b"\n"):
            atomic_write(fix.path, data[:-1], st.st_mode & 0o777, st.st_gid)


def git_facts(project_dir: Path, secrets_dir: Path) -> GitFacts:
    """Whether the secrets dir is inside a git work tree, ignored, and has tracked files."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(project_dir), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    try:
        inside = git("rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return GitFacts(in_repo=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return GitFacts(in_repo=False)
    rel = os.path.relpath(secrets_dir, project_dir)
    tracked = git("ls-files", "--", rel).stdout.split()
    probe = f"{rel}/.titan-deploy-ignore-probe"
    ignored = git("check-ignore", "-q", "--no-index", probe).returncode == 0
    return GitFacts(in_repo=True, tracked=frozenset(tracked), ignored=ignored)


def ensure_gitignored(project_dir: Path, entries: list[str]) -> list[str]:
    """Append missing entries to the project's .gitignore; return those added."""
    gitignore = project_dir / ".gitignore"
    existing = gitignore.read_text().splitlines() if gitignore.exists() else []
    present = {line.strip() for line in existing}
    added = [e for e in entries if e not in present and e.strip("/") not in present]
    if added:
        text = "\n".join([*existing, "# titan-deploy: secret material never goes to git", *added])
        atomic_write(gitignore, (text.lstrip("\n") + "\n").encode(), mode=0o644)
    return added
