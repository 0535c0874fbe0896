"""Filesystem effects: atomic, permission-safe, confined writes and the safe fixes of check-secrets.

A secret file is created 0600 (never world-readable, not even for an instant: the temp file is
opened with that mode), written, fsynced, given its final mode/group, renamed over the target and
the directory fsynced — so a crash leaves either the old file or the new one, never a torn one.

Confinement (issue 9.2): the tool writes only paths it owns. Every writer opens the target's
directory one component at a time from a trusted root (the resolved project dir) with
O_NOFOLLOW|O_DIRECTORY and then works relative to that directory fd (`dir_fd=`), so no symlink
anywhere on the way — nor a directory swapped for one meanwhile — can send a write outside the
root. A target that is itself a symlink is refused, never replaced; `check-secrets --fix` changes
a file only through an fd opened with O_NOFOLLOW and checked with fstat (a regular file with one
link, or the secrets dir itself). A refused write raises UnsafePath (a ConfigError, exit 2).

Reads of files the tool did not write go through `core.fileread.read_bounded` (regular files
only, never blocking, bounded), re-exported here for the effects side.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from titan_deploy.core.checks import Fix
from titan_deploy.core.fileread import TooLarge, UnsafeFile, file_type, read_bounded, read_fd
from titan_deploy.core.limits import MAX_CONFIG_BYTES, MAX_SECRET_BYTES
from titan_deploy.core.secretvalue import stripped
from titan_deploy.core.versions import store_entry
from titan_deploy.errors import ConfigError, RuntimeFailure, names_its_path

__all__ = ["TooLarge", "UnsafeFile", "UnsafePath", "read_bounded"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW_DIR = _DIR_FLAGS | os.O_NOFOLLOW
_INTERMEDIATE_MODE = 0o755  # a parent created on the way to a secrets/state dir holds no secret


class UnsafePath(ConfigError):
    """A write the tool refuses: outside its root, through a symlink, onto a symlink or a hard
    link, or onto something that is not a regular file (exit 2)."""


# --- reads ------------------------------------------------------------------------------------


def read_secret(path: Path, *, single_link: bool = False) -> bytes:
    """A secret file's bytes, at most MAX_SECRET_BYTES. Raises TooLarge, UnsafeFile, OSError."""
    return read_bounded(path, MAX_SECRET_BYTES, single_link=single_link)


def read_config(path: Path, *, follow_symlinks: bool = True) -> bytes:
    """A config/state file's bytes, at most MAX_CONFIG_BYTES. Raises TooLarge/UnsafeFile/OSError."""
    return read_bounded(path, MAX_CONFIG_BYTES, follow_symlinks=follow_symlinks)


def require_regular(path: Path, limit: int = MAX_CONFIG_BYTES) -> None:
    """Check, without opening it, that `path` is a regular file of at most `limit` bytes (for a
    file another program reads, e.g. compose). Raises FileNotFoundError, UnsafeFile, TooLarge."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"is a {file_type(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise TooLarge(st.st_size, limit)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for streaming (logs): refused BEFORE opening when it is a FIFO, a
    device or a socket; opened O_NONBLOCK (a FIFO swapped in cannot block) and re-checked with
    fstat. Raises UnsafeFile or OSError."""
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise UnsafeFile(f"is a {file_type(before.st_mode)}, not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise UnsafeFile("was replaced while being opened")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


# --- confined directories -------------------------------------------------------------------


def open_dir(path: Path, root: Path | None = None) -> int:
    """An fd of directory `path`, reached from `root` one component at a time, never through a
    symlink. `root` (trusted, e.g. the resolved project dir) is opened as is; without it only
    the last component is opened with O_NOFOLLOW. The caller closes the fd. Raises UnsafePath
    (outside root, a symlink, not a directory) or OSError (missing)."""
    fd, _ = _walk(path, root)
    return fd


def ensure_dir(path: Path, mode: int, gid: int | None = None, *, root: Path | None = None) -> bool:
    """Create `path` with `mode` (and group) if missing, confined to `root`. True if created.

    Missing parents are created 0755; an existing dir keeps its mode (check-secrets' business).
    """
    fd, created = _walk(path, root, create=mode, gid=gid)
    os.close(fd)
    return created


def ensure_dirs(path: Path, mode: int, gid: int | None = None, *, root: Path) -> None:
    """Create every missing directory from `root` (exclusive) down to `path` with `mode` and
    group `gid` (a secret's `file:` in a subdir of the secrets dir gets the dir's own mode, not
    0755), never through a symlink. Existing dirs are left as they are."""
    parts = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root))).parts
    for i in range(1, len(parts) + 1):
        ensure_dir(Path(os.path.abspath(root)).joinpath(*parts[:i]), mode, gid, root=root)


def store_files(secrets_dir: Path, files: Mapping[str, str]) -> list[tuple[str, Path]]:
    """(name, path) of every file of the secrets dir a manifest secret claims, base or version:
    the top of the dir and each dir a `file:` names (`files`: secret -> its file relative to the
    secrets dir, core.manifest_model.Manifest.files). `name` is `<secret>` or `<secret>.v<N>`
    (core.versions.store_entry). A symlinked subdir is not entered. Sorted by name."""
    dirs = {posixpath.dirname(f) for f in files.values()}
    out = []
    for rel_dir in sorted(dirs):
        directory = secrets_dir / rel_dir if rel_dir else secrets_dir
        if (rel_dir and directory.is_symlink()) or not directory.is_dir():
            continue
        for entry in os.listdir(directory):
            name = store_entry(posixpath.join(rel_dir, entry), files)
            if name is not None:
                out.append((name, directory / entry))
    return sorted(out)


def _walk(
    path: Path, root: Path | None, create: int | None = None, gid: int | None = None
) -> tuple[int, bool]:
    start, parts = _split(Path(os.path.abspath(path)), root)
    fd = os.open(start, _DIR_FLAGS)
    created = False
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            shown = start.joinpath(*parts[: i + 1])
            try:
                nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            except FileNotFoundError:
                if create is None:
                    raise
                nxt = _mkdir(fd, part, shown, create if last else _INTERMEDIATE_MODE, gid, last)
                created = last
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{shown} {_not_a_dir(fd, part)}") from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd, created


def _split(path: Path, root: Path | None) -> tuple[Path, tuple[str, ...]]:
    if root is None:
        return (path.parent, (path.name,)) if path.name else (path, ())
    root = Path(os.path.abspath(root))
    try:
        return root, path.relative_to(root).parts
    except ValueError:
        raise UnsafePath(
            f"{path} is outside {root}: titan-deploy writes only inside the project"
        ) from None


def _mkdir(parent: int, name: str, shown: Path, mode: int, gid: int | None, last: bool) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent)
    try:
        fd = os.open(name, _NOFOLLOW_DIR, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(f"{shown} {_not_a_dir(parent, name)}") from None
        raise
    if last and gid is not None:
        _fchgrp(fd, gid, shown)
    os.fchmod(fd, mode)
    return fd


def _not_a_dir(parent: int, name: str) -> str:
    try:
        st = os.lstat(name, dir_fd=parent)
    except OSError:
        return "is not a directory"
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink: titan-deploy never writes through one (use the real path)"
    return "is not a directory"


# --- writes -----------------------------------------------------------------------------------


@names_its_path
def atomic_write(
    path: Path,
    data: bytes,
    mode: int = 0o600,
    gid: int | None = None,
    before_replace: Callable[[Path], None] | None = None,
    *,
    root: Path | None = None,
) -> None:
    """Replace `path` with `data` atomically; the temp file lives in the same dir.

    The directory is reached from `root` without following a symlink; a `path` that is a
    symlink is refused (UnsafePath), never replaced. `before_replace(tmp)` runs once the temp
    file is complete and fsynced, just before the rename (the rotation's crash-injection tests
    kill the process there)."""
    dfd = open_dir(path.parent, root)
    try:
        _refuse_non_regular(dfd, path, allow_missing=True)
        tmp = _write_temp(dfd, path.name, data, mode, gid)
        try:
            if before_replace is not None:
                before_replace(path.parent / tmp)
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        os.fsync(dfd)
    finally:
        os.close(dfd)


@names_its_path
def write_new(
    path: Path, data: bytes, mode: int = 0o600, gid: int | None = None, *, root: Path | None = None
) -> bool:
    """Create `path` only if nothing (not even a dangling symlink) has that name: never
    overwrite a secret. Atomic (temp file + link(2), which fails if the name exists). True if
    written."""
    dfd = open_dir(path.parent, root)
    try:
        if _lexists(dfd, path.name):
            return False
        tmp = _write_temp(dfd, path.name, data, mode, gid)
        try:
            os.link(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
        os.fsync(dfd)
        return True
    finally:
        os.close(dfd)


def unlink(path: Path, *, root: Path | None = None) -> bool:
    """Remove the file `path` (never a directory), its dir reached without following a symlink.
    True if it existed."""
    dfd = open_dir(path.parent, root)
    try:
        os.unlink(path.name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    finally:
        os.close(dfd)
    return True


def _write_temp(dfd: int, name: str, data: bytes, mode: int, gid: int | None) -> str:
    tmp = f".{name}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dfd)  # a leftover of a crashed run: never reuse it, nor its mode
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=dfd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        if gid is not None:
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        raise
    os.close(fd)
    return tmp


def _lexists(dfd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return False
    return True


def _refuse_non_regular(dfd: int, path: Path, *, allow_missing: bool) -> None:
    try:
        st = os.lstat(path.name, dir_fd=dfd)
    except FileNotFoundError:
        if allow_missing:
            return
        raise
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symlink: titan-deploy never writes through one")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{path} is not a regular file")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, _DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fchgrp(fd: int, gid: int, shown: Path) -> None:
    try:
        os.fchown(fd, -1, gid)
    except PermissionError:
        raise RuntimeFailure(
            f"cannot give {shown} to group {gid}: run as root or as a member of that group"
        ) from None


# --- check-secrets --fix ----------------------------------------------------------------------


def apply_fix(fix: Fix, root: Path | None = None) -> None:
    """Apply one mechanical fix from check-secrets, confined to `root`.

    The target is opened with O_NOFOLLOW from its directory fd and checked with fstat: the
    secrets dir itself (chmod/chgrp), or a regular file with exactly one link (a hard link's
    other names are outside the tool's control: changing its mode would change theirs). Raises
    UnsafePath when the target is a symlink, a hard link or anything else."""
    dfd = open_dir(fix.path.parent, root)
    try:
        fd = _open_fix_target(dfd, fix.path)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode) and fix.action == "strip-whitespace":
                raise UnsafePath(f"{fix.path} is a directory")
            if stat.S_ISREG(st.st_mode) and st.st_nlink != 1:
                raise UnsafePath(
                    f"{fix.path} has {st.st_nlink} hard links: not changed (its other names "
                    "would change too)"
                )
            _apply_on_fd(fix, fd, st, root)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)


def _open_fix_target(dfd: int, path: Path) -> int:
    st = os.lstat(path.name, dir_fd=dfd)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symlink: not changed (fix the file it points to)")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise UnsafePath(f"{path} is not a regular file: not changed")
    try:
        fd = os.open(
            path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink: not changed") from None
        raise
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise UnsafePath(f"{path} was replaced while being fixed: not changed")
    return fd


def _apply_on_fd(fix: Fix, fd: int, st: os.stat_result, root: Path | None) -> None:
    if fix.action == "chmod" and fix.mode is not None:
        os.fchmod(fd, fix.mode)
    elif fix.action == "chgrp" and fix.gid is not None:
        _fchgrp(fd, fix.gid, fix.path)
    elif fix.action == "strip-whitespace":
        data = read_fd(fd, MAX_SECRET_BYTES, single_link=True)
        clean = stripped(data, fix.multiline)
        if clean and clean != data:
            atomic_write(fix.path, clean, stat.S_IMODE(st.st_mode), st.st_gid, root=root)


# --- git ----------------------------------------------------------------------------------------
