"""The proofs a rotation waits for inside a consumer (README "Reload and proofs"): a probe
command, and a line in its log (`verify_log`, read since its start or reload).

A probe is the manifest's argv (never a shell line, never a value: the consumer reads its
secrets from its own files), run with `docker exec` in every running container of the service
after its restart; each must exit 0 within the bound, else the step fails and the rotation
rolls back as it does for a missing log line. Only the exit code is reported: a probe's
output could quote what it read, so it is never shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from titan_deploy.core import regex
from titan_deploy.core.rotation import CheckLog, Probe
from titan_deploy.core.timespec import parse_timestamp
from titan_deploy.errors import TitanError
from titan_deploy.io import engine as engine_io
from titan_deploy.ops.rotate.runner import NothingDeployed, StepFailed

MAX_LOG_LINE = 64 * 1024  # bytes of one log line matched against verify_log at once
LOG_POLL = 0.25
"""Seconds between two reads of the consumers' logs while a log proof is awaited (read since
the container's start or reload: nothing is missed between polls; it was 1 s; issue 15)."""
PROBE_POLL = 1.0  # seconds between two runs of a probe that has not passed yet
MIN_RUN = 10.0  # seconds one run may take at least, even near the bound (a loaded machine)


def run_probe(
    engine: engine_io.Engine,
    project_name: str,
    step: Probe,
    bound: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run `step.command` in every running container of `step.service` until each exits 0,
    at most `bound` seconds (each run bounded by what is left, but never below MIN_RUN: a
    process start on a loaded machine must not be what fails it). Returns a short note.

    Errors: NothingDeployed when a required probe finds no container; StepFailed (a required
    probe that never passed) naming the containers and the last exit code, never output."""
    running = [c for c in engine.containers(project_name, step.service) if c.status == "running"]
    what = " ".join(step.command)
    if not running:
        if step.required:
            raise NothingDeployed(
                f"{step.service} is not running in project {project_name}: nothing to run "
                f"`{what}` in (deploy with `titan-deploy up`, or check -p)"
            )
        return "not running: no probe run"
    started = time.monotonic()
    deadline = started + bound
    last: dict[str, str] = {c.id: "not run" for c in running}
    waiting = {c.id: c for c in running}
    while True:
        for cid in list(waiting):
            left = max(MIN_RUN, deadline - time.monotonic())
            last[cid] = _run_once(engine, cid, list(step.command), left)
            if last[cid] == "exit 0":
                del waiting[cid]
        if not waiting:
            return f"`{what}` passed in {time.monotonic() - started:.1f}s"
        if time.monotonic() + PROBE_POLL > deadline:
            names = ", ".join(f"{c.name} ({last[c.id]})" for c in waiting.values())
            message = f"probe `{what}` did not pass in {names} within {bound:.0f}s"
            if step.required:
                raise StepFailed(message)
            return f"WARNING: {message}"
        sleep(PROBE_POLL)


def _run_once(engine: engine_io.Engine, container_id: str, argv: list[str], bound: float) -> str:
    """ "exit N" for one run of the probe, or why it could not run (the engine's words)."""
    try:
        result = engine.exec(container_id, argv, timeout=bound)
    except TitanError as exc:
        return str(exc).splitlines()[0][:200] if str(exc) else "exec failed"
    return f"exit {result.exit_code}"


def log_lines(chunks: Iterable[bytes], max_line: int = MAX_LOG_LINE) -> Iterator[str]:
    """The lines of a log stream, decoded, one at a time (memory bounded: a line longer than
    `max_line` bytes is cut into pieces of that size)."""
    carry = b""
    for chunk in chunks:
        carry += chunk
        *lines, carry = carry.split(b"\n")
        for line in lines:
            for start in range(0, max(len(line), 1), max_line):
                yield line[start : start + max_line].decode("utf-8", "replace")
        while len(carry) > max_line:
            yield carry[:max_line].decode("utf-8", "replace")
            carry = carry[max_line:]
    if carry:
        yield carry.decode("utf-8", "replace")


def await_log(
    engine: engine_io.Engine,
    project_name: str,
    step: CheckLog,
    bound: float,
    mark: int | None = None,
) -> str:
    """Wait until every container of `step.service` has logged a line matching `step.pattern`
    (RE2: linear time, whether it comes from the manifest or from the journal) since its start,
    or since `mark` (unix seconds of a reload) when later; at most `bound` seconds. Returns a
    short note (a WARNING for an optional proof that was not seen).

    Errors: StepFailed for a pattern that is not RE2 or a required proof not seen in time;
    NothingDeployed when a required proof has no container to log it."""
    try:
        regex.check_pattern(step.pattern)
    except regex.RegexError as exc:
        raise StepFailed(f"verify_log is not a valid RE2 regex: {exc}") from None
    containers = engine.containers(project_name, step.service)
    if not containers:
        if step.required:  # the proof is the point: no container, no proof, no success
            raise NothingDeployed(
                f"{step.service} is not deployed in project {project_name}: nothing can log the "
                "proof (deploy with `titan-deploy up`, or check -p)"
            )
        return "not deployed: nothing to check"
    started = time.monotonic()
    deadline = started + bound
    waiting = {c.id: c for c in containers}
    while waiting:
        for cid, info in list(waiting.items()):
            if _log_matches(engine, cid, info.started_at, step.pattern, mark):
                del waiting[cid]
        if not waiting:
            break
        if time.monotonic() > deadline:
            names = ", ".join(c.name for c in waiting.values())
            message = (
                f"no /{step.pattern}/ in the logs of {names} within {bound:.0f}s of its restart"
            )
            if step.required:
                raise StepFailed(message)
            return f"WARNING: {message}"
        time.sleep(LOG_POLL)
    return f"/{step.pattern}/ seen after {time.monotonic() - started:.1f}s"


def _log_matches(
    engine: engine_io.Engine, container_id: str, started_at: str, pattern: str, mark: int | None
) -> bool:
    since = max(_unix(started_at) or 0, mark or 0) or None
    try:
        chunks = engine.logs(container_id, since=since, timestamps=False)
        return any(regex.search(pattern, line) for line in log_lines(chunks))
    except Exception:  # a container being replaced: try again on the next poll
        return False


def _unix(started_at: str) -> int | None:
    stamp = parse_timestamp(started_at)  # the one Docker timestamp parser (core/timespec.py)
    return None if stamp is None else int(stamp)
