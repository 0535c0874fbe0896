"""Run a pure function in a forked child under a memory cap and a CPU limit, so input the
operator does not control the cost of (a config template: README "Config files") can never make
the tool swap, hang or die: `{{ "x".center(300000000) }}`, `{{ "%0300000000d" % 1 }}`, a
`replace` that multiplies two bounded strings, loops nested inside loops. Jinja's sandbox
bounds what a template may *reach*, not what it may *cost*, and the ways to build a big value
or a long loop are too many to bound one by one: the child's limits bound them all.

The child is a fork (no new interpreter, nothing re-imported, nothing on argv or in a file): it
inherits the arguments, applies RLIMIT_AS (its current size plus `memory` bytes) and RLIMIT_CPU
(`seconds`), calls the function and sends back its pickled result over a pipe. The parent waits
at most `seconds` * 3 + 5 of wall time (a child that sleeps or blocks is killed too). The result
is the function's own value; the function must catch what it expects (an exception raised in the
child comes back as `Crashed` with the exception's type name only: its text may hold a value).
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any

MEMORY = 512 * 1024 * 1024  # bytes the child may add to what it inherits
SECONDS = 10  # CPU seconds (a real config renders in milliseconds)


class Exceeded(Exception):
    """The child went past a limit: `limit` is "memory" or "time"; the message says which."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class Crashed(Exception):
    """The function raised in the child: the message names the exception's type only."""


def call_bounded(
    fn: Callable[..., Any], *args: Any, memory: int | None = None, seconds: int | None = None
) -> Any:
    """fn(*args) in a forked child under `memory` extra bytes of address space and `seconds` of
    CPU time; returns its result (which must pickle). Raises Exceeded past a limit, Crashed when
    fn raised (type name only), OSError when the fork or pipe fails. Defaults: MEMORY, SECONDS."""
    return start_bounded(fn, *args, memory=memory, seconds=seconds).result()


class Pending:
    """A bounded child started by `start_bounded`: `result()` waits for it (once); `close()`
    kills and reaps it if its result was never taken (call it in a `finally`)."""

    def __init__(self, pid: int, read_end: int, memory: int, seconds: int) -> None:
        self._pid, self._read_end = pid, read_end
        self._memory, self._seconds = memory, seconds
        self._deadline = time.monotonic() + seconds * 3 + 5

    def result(self) -> Any:
        """The function's result; Exceeded, Crashed as `call_bounded` (see there)."""
        try:
            data = _read_all(self._read_end, deadline=self._deadline)
        finally:
            self._release()
        status = _reap(self._pid, killed=data is None)
        return _outcome(data, status, self._memory, self._seconds)

    def close(self) -> None:
        """Kill and reap the child unless `result()` took it; a no-op after `result()`."""
        if self._read_end >= 0:
            self._release()
            _reap(self._pid, killed=True)

    def _release(self) -> None:
        os.close(self._read_end)
        self._read_end = -1


def start_bounded(
    fn: Callable[..., Any], *args: Any, memory: int | None = None, seconds: int | None = None
) -> Pending:
    """Fork the child of `call_bounded` and return at once, so the caller works while it runs.
    OSError when the fork or pipe fails."""
    memory = MEMORY if memory is None else memory
    seconds = SECONDS if seconds is None else seconds
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(write_end, fn, args, memory, seconds)
    os.close(write_end)
    return Pending(pid, read_end, memory, seconds)


def _child(write_end: int, fn: Callable[..., Any], args: tuple, memory: int, seconds: int) -> None:
    code = 0
    try:
        _limit(memory, seconds)
        try:
            payload: tuple = ("ok", fn(*args))
        except MemoryError:
            payload = ("memory",)
        except BaseException as exc:  # reported by type name only
            payload = ("raised", type(exc).__name__)
        data = pickle.dumps(payload)
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:  # the child must reach os._exit whatever happens
        code = 70
    finally:
        os._exit(code)


def _limit(memory: int, seconds: int) -> None:
    size = _address_space()
    resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


def _address_space() -> int:
    """This process's virtual size in bytes (/proc/self/statm's first field, in pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _read_all(fd: int, deadline: float) -> bytes | None:
    """Everything the child writes until it closes the pipe; None when `deadline` passes."""
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid: int, killed: bool) -> int:
    if killed:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


def _outcome(data: bytes | None, status: int, memory: int, seconds: int) -> Any:
    payload = pickle.loads(data) if data else None  # our own child's bytes
    if payload is not None and payload[0] == "ok":
        return payload[1]
    if payload is not None and payload[0] == "raised":
        raise Crashed(f"{payload[1]} in the bounded child")
    if payload is not None and payload[0] == "memory":
        raise Exceeded("memory", f"needed more than {memory // (1024 * 1024)} MiB of memory")
    cpu_signals = (signal.SIGXCPU, signal.SIGKILL)
    if data is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) in cpu_signals):
        raise Exceeded("time", f"took more than {seconds} s of CPU")
    raise Crashed(f"the bounded child ended without a result (status {status})")
