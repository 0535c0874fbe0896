"""The new secret values of `rotate exchange` and `rotate secret` (README "Rotation runbook"):
from --from-file (a regular file, at most Docker's secret limit), else one per line on stdin
(bounded), else a hidden prompt on a terminal; never from an argument. Every value read is
`remember`ed by the scrubber (core.redact) before anything can show it. A closed or empty
stdin, an unreadable file or a prompt ended with Ctrl-D is a UsageError (exit 2) naming what
to give."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from titan_deploy.core.limits import MAX_SECRET_BYTES


def read_material(names: list[str], files: list[Path]) -> list[bytes]:
    """The new values, in the group's order: --from-file, else stdin lines, else a prompt.

    Every value read is remembered by the scrubber (core.redact.remember). Raises UsageError
    (exit 2) for an unreadable file, a closed or empty stdin, or a prompt ended with Ctrl-D.
    """
    from titan_deploy.core.redact import remember

    if files:
        values = _from_files(names, files)
    elif _stdin_is_terminal():
        values = _from_prompt(names)
    else:
        values = _from_stdin(names)
    remember(values)
    return values


def _usage(message: str) -> Exception:
    from titan_deploy.errors import UsageError

    return UsageError(message)


def _how(names: list[str]) -> str:
    order = ", ".join(names)
    return (
        f"give {len(names)} values ({order}): --from-file once per value, one per line on "
        "stdin, or run on a terminal to be prompted"
    )


def _from_files(names: list[str], files: list[Path]) -> list[bytes]:
    if len(files) != len(names):
        raise _usage(f"give --from-file {len(names)} times, in this order: {', '.join(names)}")
    return [_read_file(path, name) for path, name in zip(files, names, strict=True)]


def _stdin_is_terminal() -> bool:
    stdin = sys.stdin
    try:
        return stdin is not None and not stdin.closed and stdin.isatty()
    except (OSError, ValueError):
        return False


def _from_stdin(names: list[str]) -> list[bytes]:
    stdin = sys.stdin
    try:
        if stdin is None or stdin.closed:
            raise OSError(0, "closed")
        stream = getattr(stdin, "buffer", stdin)
        data = stream.read(_stdin_limit(names) + 1)
    except (OSError, ValueError):
        raise _usage(f"stdin is closed: {_how(names)}") from None
    if isinstance(data, str):
        data = data.encode()
    if len(data) > _stdin_limit(names):
        raise _usage(f"stdin holds more than {_stdin_limit(names)} bytes: {_how(names)}")
    values = [line.strip() for line in data.splitlines() if line.strip()]
    if not values:
        raise _usage(f"stdin is empty: {_how(names)}")
    return values


def _stdin_limit(names: list[str]) -> int:
    """Bytes stdin may hold: each value within Docker's secret limit, plus its newline (bounded:
    `< /dev/zero` must not hang or fill memory)."""
    return len(names) * (MAX_SECRET_BYTES + 1)


def _from_prompt(names: list[str]) -> list[bytes]:
    from titan_deploy.core.redact import remember

    out: list[bytes] = []
    for name in names:
        try:
            value = getpass.getpass(f"new {name} (input hidden): ").strip().encode()
        except EOFError:
            remember(out)  # the values typed so far
            raise _usage(f"no value entered for the new {name} (input ended)") from None
        out.append(value)
    return out


def _read_file(path: Path, name: str) -> bytes:
    """A --from-file value: a regular file only (a FIFO or /dev/zero is refused before it is
    opened), at most Docker's secret limit."""
    from titan_deploy.errors import UsageError
    from titan_deploy.io import fs

    try:
        return fs.read_secret(path).strip()
    except fs.TooLarge:
        raise UsageError(
            f"the new {name} in {path} is larger than Docker's 500 KiB secret limit"
        ) from None
    except fs.UnsafeFile as exc:
        raise UsageError(f"cannot read the new {name} from {path}: it {exc.reason}") from None
    except OSError as exc:
        raise UsageError(f"cannot read the new {name} from {path}: {exc.strerror}") from None
