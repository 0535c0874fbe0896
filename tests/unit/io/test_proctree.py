"""The process tree is walked in one place (io/proctree.py `descendants`, by parent pid): the
compose runner's kill (`kill_group`) and verify's fallback when a container's cgroup cannot be
read (io/procfs.py) both use it. Real processes, synchronised by a pipe (no sleeps)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from titan_deploy.io import procfs, proctree


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[str]]:
    """A shell with two children, both forked by the time it says `ready`."""
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 300 & sleep 300 & echo ready; wait"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    yield proc
    proctree.kill_group(proc)


def test_the_descendants_of_a_real_tree(tree: subprocess.Popen[str]) -> None:
    children = proctree.descendants(tree.pid)
    assert len(children) == 2 and tree.pid not in children
    assert os.getpid() not in children
    assert procfs._descendants(tree.pid) == [tree.pid, *children]


def test_procfs_walks_the_tree_through_proctree(monkeypatch: pytest.MonkeyPatch) -> None:
    """One walk of the tree: procfs's fallback is proctree's (init first, at most
    MAX_PROCESSES), not a second reading of /proc of its own."""
    asked: list[int] = []

    def walk(root: int) -> list[int]:
        asked.append(root)
        return list(range(root + 1, root + 1 + procfs.MAX_PROCESSES))

    monkeypatch.setattr(proctree, "descendants", walk)
    pids = procfs._descendants(7)
    assert asked == [7]
    assert pids[:3] == [7, 8, 9] and len(pids) == procfs.MAX_PROCESSES
