"""errors: OS errors and pathlib's symlink-loop RuntimeError as one operator line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from titan_deploy.errors import (
    ConfigError,
    RuntimeFailure,
    names_its_path,
    os_failure,
    symlink_loop_failure,
)


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (errno.ENOSPC, RuntimeFailure, "no space left on device: free some space"),
        (errno.EIO, RuntimeFailure, "input/output error"),
        (errno.ELOOP, ConfigError, "symlink loop"),
        (errno.EACCES, ConfigError, "permission denied"),
        (errno.ENOENT, ConfigError, "no such file or directory"),
    ],
)
def test_os_failure_names_the_file(code: int, kind: type, reason: str) -> None:
    failure = os_failure(OSError(code, os.strerror(code), "/srv/titan/secrets/x"))
    assert type(failure) is kind
    assert str(failure).startswith(f"/srv/titan/secrets/x: {reason}")
    assert "\n" not in str(failure)


def test_os_failure_without_a_file_still_says_what() -> None:
    assert str(os_failure(OSError(errno.ENOSPC, "No space left on device"))).startswith(
        "no space left on device"
    )
    assert str(os_failure(OSError("is a FIFO, not a regular file"))) == (
        "is a FIFO, not a regular file"
    )


def test_symlink_loop_runtime_error() -> None:
    failure = symlink_loop_failure(RuntimeError("Symlink loop from '/p/secrets/k'"))
    assert isinstance(failure, ConfigError)
    assert str(failure).startswith("/p/secrets/k: symlink loop")
    assert symlink_loop_failure(RuntimeError("something else")) is None


def test_names_its_path_gives_a_nameless_write_error_the_target(tmp_path: Path) -> None:
    target = tmp_path / "state.json"

    @names_its_path
    def write(path: Path, fail_with: OSError) -> None:
        raise fail_with

    with pytest.raises(OSError) as caught:
        write(target, OSError(errno.ENOSPC, "No space left on device"))
    assert caught.value.filename == str(target)
    temp = tmp_path / ".state.json.tmp-123"
    with pytest.raises(OSError) as caught:
        write(target, OSError(errno.ENOSPC, "No space left on device", str(temp)))
    assert caught.value.filename == str(target)
    other = tmp_path / "other"
    with pytest.raises(OSError) as caught:
        write(target, OSError(errno.EACCES, "Permission denied", str(other)))
    assert caught.value.filename == str(other)
