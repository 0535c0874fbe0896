"""Named domain errors and exit codes (README "Exit codes").

Every error the tool expects is a TitanError carrying the exit code it maps to. The CLI catches
them once, at the top, and prints one line. Messages name files, secrets and services, never a
secret value.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from collections.abc import Callable
from typing import ParamSpec, TypeVar

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_CONFIG = 2
EXIT_RUNTIME = 3


class TitanError(Exception):
    """An expected failure: one line for the operator and the exit code it maps to."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(TitanError):
    """Bad manifest, bad compose file, bad option: the operator must fix the input (exit 2)."""

    exit_code = EXIT_CONFIG


class UsageError(ConfigError):
    """A command-line option or argument that cannot work (exit 2)."""


class RuntimeFailure(TitanError):
    """Something outside the tool failed: engine, compose, a timeout (exit 3)."""

    exit_code = EXIT_RUNTIME


class EngineUnreachable(RuntimeFailure):
    """No Docker engine answers at the configured endpoint."""


class ComposeError(RuntimeFailure):
    """A compose invocation failed. Carries argv, return code and stderr for `-v`."""

    def __init__(self, message: str, *, argv: list[str], returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class LockError(RuntimeFailure):
    """Another rotation holds the lock."""


# --- operating-system errors as one line -------------------------------------------------------

_CONFIG_ERRNOS = {
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ELOOP,
    errno.EACCES,
    errno.EPERM,
    errno.ENAMETOOLONG,
    errno.EEXIST,
}
_REASONS = {
    errno.ENOSPC: "no space left on device: free some space, then run the command again",
    errno.EDQUOT: "disk quota exceeded: free some space, then run the command again",
    errno.ELOOP: "symlink loop (a symlink that points back at itself): fix or remove it",
    errno.EACCES: "permission denied: run as the file's owner or as root, or fix its mode",
    errno.EPERM: "operation not permitted: run as the file's owner or as root",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error (a failing disk?)",
}


def os_failure(exc: OSError) -> TitanError:
    """An OSError as one operator line, `PATH: reason`, with its exit code: the operator's files
    (missing, a symlink loop, permissions) are exit 2; the machine (disk full, I/O) exit 3."""
    reason = _REASONS.get(exc.errno or 0)
    if reason is None:
        reason = exc.strerror.lower() if exc.strerror else str(exc) or type(exc).__name__
    if exc.errno == errno.EEXIST and exc.filename and os.path.islink(exc.filename):
        reason = "a dangling symlink or a symlink loop is in the way: fix or remove it"
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    message = f"{' -> '.join(names)}: {reason}" if names else reason
    if exc.errno in _CONFIG_ERRNOS:
        return ConfigError(message)
    return RuntimeFailure(message)


def symlink_loop_failure(exc: RuntimeError) -> TitanError | None:
    """pathlib's `RuntimeError("Symlink loop from '...'")` (Python < 3.13) as a ConfigError naming
    the path; None for any other RuntimeError."""
    match = re.fullmatch(r"Symlink loop from (?P<q>['\"])(?P<path>.*)(?P=q)", str(exc))
    if not match:
        return None
    return ConfigError(f"{match['path']}: {_REASONS[errno.ELOOP]}")


P = ParamSpec("P")
R = TypeVar("R")


def names_its_path(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a writer whose first argument is the target path: an OSError it raises without a
    file name (a `write` or `fsync` failing with ENOSPC names none) gets that path, so the error
    line says which file could not be written."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OSError as exc:
            target = args[0] if args else kwargs.get("path")
            if target is not None and _unnamed_or_temp(exc.filename, str(target)):
                exc.filename = str(target)
            raise

    return wrapper


def _unnamed_or_temp(filename: object, target: str) -> bool:
    if filename is None:
        return True
    temp_prefix = f".{os.path.basename(target)}.tmp-"
    return os.path.basename(str(filename)).startswith(temp_prefix)
