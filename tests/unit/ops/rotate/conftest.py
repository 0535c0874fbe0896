"""What the rotation tests share: the Titan project on a tmpfs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def fast_project(titan_project: Path) -> Iterator[Path]:
    """The Titan project (conftest `titan_project`) on a tmpfs when there is one: the crash-point
    replays write the journal thousands of times, each an atomic write with two fsyncs, which
    on a disk shared with other work wait for it (a replay took minutes instead of seconds).
    Renames and fsyncs are the same calls on a tmpfs; only the wait for the disk is gone."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield titan_project
        return
    base = Path(tempfile.mkdtemp(prefix="tdtest-", dir=shm))
    try:
        shutil.copytree(titan_project, base / "project")
        yield base / "project"
    finally:
        shutil.rmtree(base, ignore_errors=True)
