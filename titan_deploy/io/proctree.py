"""A child process and everything it spawned, stopped together (io/composerun.py's runner: the
`docker` CLI's compose plugin holds the pipes). Linux /proc."""

from __future__ import annotations

import contextlib
import os
import subprocess


def kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the runner and every process it spawned (the `docker` CLI's compose plugin holds
    the pipes: killing the CLI alone leaves `communicate` waiting), then reap it. They stay in
    the tool's own process group, so a closed terminal still stops them all."""
    if proc.poll() is None:
        for pid in [*descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 9)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError, OSError):
        proc.communicate(timeout=10)


def descendants(root: int) -> list[int]:
    """Pids of every descendant of `root` (from /proc: Linux), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
