"""The project's git facts and its .gitignore (init, adopt, check-secrets): what git knows of the
secrets dir, and the ignore lines added atomically, never through a link."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from titan_deploy.core.checks import GitFacts
from titan_deploy.core.fileread import UnsafeFile, read_bounded
from titan_deploy.core.limits import MAX_CONFIG_BYTES
from titan_deploy.io.fs import UnsafePath, atomic_write


def git_facts(project_dir: Path, secrets_dir: Path) -> GitFacts:
    """Whether the secrets dir is inside a git work tree, ignored, and has tracked files.
    Without a `git` program: GitFacts(available=False) (check-secrets says the checks were
    skipped)."""

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
        return GitFacts(in_repo=False, available=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return GitFacts(in_repo=False)
    rel = os.path.relpath(secrets_dir, project_dir)
    tracked = git("ls-files", "--", rel).stdout.split()
    probe = f"{rel}/.titan-deploy-ignore-probe"
    ignored = git("check-ignore", "-q", "--no-index", probe).returncode == 0
    return GitFacts(in_repo=True, tracked=frozenset(tracked), ignored=ignored)


def ensure_gitignored(project_dir: Path, entries: list[str]) -> list[str]:
    """Append missing entries to the project's .gitignore; return those added.

    A .gitignore that is a symlink, a hard link or not a regular file is neither read nor
    replaced: UnsafePath (init turns it into a finding naming the lines to add)."""
    gitignore = project_dir / ".gitignore"
    try:
        raw = read_bounded(gitignore, MAX_CONFIG_BYTES, follow_symlinks=False, single_link=True)
    except FileNotFoundError:
        raw = b""
    except UnsafeFile as exc:
        raise UnsafePath(f"{gitignore} {exc.reason}: not changed") from None
    existing = raw.decode("utf-8", "replace").splitlines()
    present = {line.strip() for line in existing}
    added = [e for e in entries if e not in present and e.strip("/") not in present]
    if added:
        text = "\n".join([*existing, "# titan-deploy: secret material never goes to git", *added])
        atomic_write(gitignore, (text.lstrip("\n") + "\n").encode(), mode=0o644, root=project_dir)
    return added
