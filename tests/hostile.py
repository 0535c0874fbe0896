"""Helpers for the hostile-input tests (issue 9): tree snapshots and bounded subprocess runs.

`snapshot(dir)` records every entry under a directory (type, mode, owner, content hash or link
target) so a test can assert that a directory OUTSIDE the project is exactly as it was after a
hostile case. `run_bounded(argv)` runs the CLI in a subprocess with an address-space limit
(RLIMIT_AS) and a timeout: the timeout is only a hang guard, never a timing assertion.
"""

from __future__ import annotations

import hashlib
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

TD = [sys.executable, "-m", "titan_deploy"]
MEMORY_LIMIT = 1 << 30  # 1 GiB of address space: reading a 2 GB file whole cannot fit
HANG_GUARD_S = int(os.environ.get("TITAN_TEST_HANG_GUARD_S", "120"))  # a guard, not a timing


def snapshot(root: Path) -> dict[str, tuple]:
    """Path (relative to root) -> (type, mode, uid, gid, sha256 of content | link target)."""
    out: dict[str, tuple] = {".": _entry(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted([*dirnames, *filenames]):
            path = Path(dirpath, name)
            out[str(path.relative_to(root))] = _entry(path)
    return out


def _entry(path: Path) -> tuple:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        detail = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        detail = hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        detail = ""
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, detail)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_bounded(
    args: list[str | Path],
    *,
    stdin: int | bytes | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `titan-deploy ARGS` with RLIMIT_AS = 1 GiB and a hang guard; fail on a hang or a
    traceback. Returns the completed process (text stdout/stderr)."""
    argv = [*TD, *(str(a) for a in args)]
    kwargs: dict = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=HANG_GUARD_S,
            preexec_fn=_limit_memory,
            env={**os.environ, **(env or {})},
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung (killed after {HANG_GUARD_S} s): {' '.join(argv[3:])}")
    result = subprocess.CompletedProcess(
        argv,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result
