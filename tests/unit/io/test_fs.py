"""Filesystem effects (io/fs.py): atomic, permission-safe writes that never overwrite a secret."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from titan_deploy.core.checks import Fix
from titan_deploy.io import fs, gitfiles

GID = 10500  # the tests run as root (CI too): any group will do


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def zero_umask():
    """umask 0: a file created without an explicit mode would come out world-readable."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    fs.atomic_write(tmp_path / "k", b"value")
    assert os.listdir(tmp_path) == ["k"]
    assert (tmp_path / "k").read_bytes() == b"value"


def test_atomic_write_default_mode_is_0600(tmp_path: Path, zero_umask) -> None:
    fs.atomic_write(tmp_path / "k", b"value")
    assert mode_of(tmp_path / "k") == 0o600


def test_atomic_write_0640_with_group(tmp_path: Path, zero_umask) -> None:
    fs.atomic_write(tmp_path / "k", b"value", mode=0o640, gid=GID)
    assert mode_of(tmp_path / "k") == 0o640
    assert (tmp_path / "k").stat().st_gid == GID


def test_atomic_write_replaces_and_never_tears(tmp_path: Path) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"old")
    fs.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["k"]


def test_never_world_readable_during_the_write(
    tmp_path: Path, zero_umask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file is private from the moment it exists until it is renamed into place."""
    seen: list[tuple[str, int, bytes]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            seen.append(("write", stat.S_IMODE(st.st_mode), b""))
        real_fsync(fd)

    def spy_replace(src, dst, *, src_dir_fd=None, dst_dir_fd=None) -> None:
        assert src_dir_fd == dst_dir_fd  # same dir: rename is atomic
        assert os.path.samestat(os.fstat(src_dir_fd), os.stat(tmp_path))
        seen.append(("replace", mode_of(tmp_path / src), (tmp_path / src).read_bytes()))
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    fs.atomic_write(tmp_path / "k", b"secret-material", mode=0o640, gid=GID)
    assert seen == [("write", 0o600, b""), ("replace", 0o640, b"secret-material")]
    for _, mode, _ in seen:
        assert mode & 0o007 == 0


def test_a_stale_temp_file_is_not_reused_with_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A world-readable leftover at the temp path (a crash, a reused pid) must not receive the
    data while it is still world-readable."""
    stale = tmp_path / f".k.tmp-{os.getpid()}"
    stale.write_bytes(b"leftover")
    os.chmod(stale, 0o644)
    modes: list[int] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            modes.append(stat.S_IMODE(st.st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    fs.atomic_write(tmp_path / "k", b"secret-material")
    assert modes and all(m & 0o077 == 0 for m in modes)
    assert (tmp_path / "k").read_bytes() == b"secret-material"
    assert mode_of(tmp_path / "k") == 0o600
    assert os.listdir(tmp_path) == ["k"]


def test_a_symlink_at_the_temp_path_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    (tmp_path / f".k.tmp-{os.getpid()}").symlink_to(victim)
    with contextlib.suppress(OSError):
        fs.atomic_write(tmp_path / "k", b"secret-material")
    assert victim.read_bytes() == b"untouched"


def test_a_failed_write_removes_the_temp_file_and_keeps_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"old")

    def boom(*args, **kwargs) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fs.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["k"]


def test_write_new_creates(tmp_path: Path, zero_umask) -> None:
    assert fs.write_new(tmp_path / "k", b"v") is True
    assert (tmp_path / "k").read_bytes() == b"v"
    assert mode_of(tmp_path / "k") == 0o600


def test_write_new_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"precious")
    os.chmod(tmp_path / "k", 0o600)
    assert fs.write_new(tmp_path / "k", b"new") is False
    assert (tmp_path / "k").read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["k"]


def test_write_new_never_follows_or_replaces_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "k").symlink_to("k.v2")  # dangling: still a secret name taken
    assert fs.write_new(tmp_path / "k", b"new") is False
    assert (tmp_path / "k").is_symlink()
    assert not (tmp_path / "k.v2").exists()


def test_ensure_dir_creates_with_mode_and_group(tmp_path: Path, zero_umask) -> None:
    target = tmp_path / "secrets"
    assert fs.ensure_dir(target, 0o750, GID) is True
    assert mode_of(target) == 0o750
    assert target.stat().st_gid == GID
    os.chmod(target, 0o755)
    assert fs.ensure_dir(target, 0o750, GID) is False
    assert mode_of(target) == 0o755  # an existing dir is check-secrets' business


def test_apply_fix_chmod_and_chgrp(tmp_path: Path) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"v")
    os.chmod(target, 0o644)
    fs.apply_fix(Fix("chmod", target, mode=0o600))
    assert mode_of(target) == 0o600
    fs.apply_fix(Fix("chgrp", target, gid=GID))
    assert target.stat().st_gid == GID


@pytest.mark.parametrize(
    ("raw", "multiline", "want"),
    [
        (b"value\n", False, b"value"),
        (b" \tvalue \t\n\n", False, b"value"),
        (b"\nvalue", False, b"value"),
        (b"line one\nline two\n", True, b"line one\nline two\n"),
        (b"\n line one\nline two \n\n", True, b"line one\nline two\n"),
        (b"line one\nline two", True, b"line one\nline two\n"),
    ],
)
def test_apply_fix_strip_whitespace_keeps_mode_and_group(
    tmp_path: Path, raw: bytes, multiline: bool, want: bytes
) -> None:
    target = tmp_path / "k"
    target.write_bytes(raw)
    os.chown(target, -1, GID)
    os.chmod(target, 0o440)
    fs.apply_fix(Fix("strip-whitespace", target, multiline=multiline))
    assert target.read_bytes() == want
    assert mode_of(target) == 0o440
    assert target.stat().st_gid == GID
    assert os.listdir(tmp_path) == ["k"]
    inode = target.stat().st_ino
    fs.apply_fix(Fix("strip-whitespace", target, multiline=multiline))  # idempotent
    assert target.read_bytes() == want
    assert target.stat().st_ino == inode  # nothing rewritten when nothing changes


def test_apply_fix_strip_whitespace_is_atomic(tmp_path: Path, monkeypatch) -> None:
    """The stripped value replaces the file by rename: a reader sees the old or the new bytes."""
    target = tmp_path / "k"
    target.write_bytes(b"value \n")
    os.chmod(target, 0o600)
    seen = []
    real_replace = os.replace

    def spy(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        seen.append((Path(src).name, target.read_bytes()))
        real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    monkeypatch.setattr(os, "replace", spy)
    fs.apply_fix(Fix("strip-whitespace", target))
    assert seen == [(f".k.tmp-{os.getpid()}", b"value \n")]
    assert target.read_bytes() == b"value"


def test_ensure_gitignored_adds_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n/.env\n")
    added = gitfiles.ensure_gitignored(tmp_path, ["/secrets/", "/.env", "/.titan-deploy/"])
    assert added == ["/secrets/", "/.titan-deploy/"]
    assert (tmp_path / ".gitignore").read_text() == (
        "node_modules/\n/.env\n# titan-deploy: secret material never goes to git\n"
        "/secrets/\n/.titan-deploy/\n"
    )
    assert mode_of(tmp_path / ".gitignore") == 0o644
    assert gitfiles.ensure_gitignored(tmp_path, ["/secrets/", "/.env", "/.titan-deploy/"]) == []


def test_ensure_gitignored_accepts_equivalent_spellings(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("secrets\n")
    assert gitfiles.ensure_gitignored(tmp_path, ["/secrets/"]) == []


def test_ensure_gitignored_creates_the_file(tmp_path: Path) -> None:
    assert gitfiles.ensure_gitignored(tmp_path, ["/secrets/"]) == ["/secrets/"]
    assert (tmp_path / ".gitignore").read_text() == (
        "# titan-deploy: secret material never goes to git\n/secrets/\n"
    )
