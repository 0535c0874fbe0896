"""When a Swarm service has converged on its current spec (README "Several hosts"), judged
from what the manager reports; pure (io/swarm.py lists, ops/swarm_up.pending_services asks).

Swarm's own signal is not enough. Every `docker stack deploy` updates every service of the
stack, and an update resets the service's UpdateStatus to none; the orchestrator's updater sets
it to `updating` a moment later, and only when some task is out of date. In between, the old
tasks still run with desired state `running`, all replicas up: by UpdateStatus and replica count
alone, a service whose update has not started yet looks converged, and a verify or a rollback
that trusts it proves tasks that are about to be replaced (or, when the updater misses them,
never are). So a service has converged only when every task the orchestrator still means to
run (desired `running`, or `ready`: a replacement waiting for its predecessor to stop) runs, was
made from the service's current spec — its secrets and environment, which is what a rotation
changes — and there are exactly as many as the service wants.

Swarm's own verdict comes first (`swarm_verdict`): a service whose update Swarm's update monitor
paused or rolled back (its `update_config.failure_action`) will not converge on the new spec, so a
step that waits for it fails at once instead of waiting out --timeout; the journal then rolls
back. Swarm's UpdateStatus.Message is passed on as the engine wrote it, bounded to one line: the
caller's scrubber (the rotation runner's, the CLI's output) redacts it before anything shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LIVE_DESIRED = ("ready", "running")  # desired states of a task the orchestrator will run
UPDATING = ("updating",)  # UpdateStatus.State while a rolling update is under way
# UpdateStatus.State once Swarm's update monitor stopped the update (failure_action pause or
# rollback): the service will not reach the spec it was given
SWARM_GAVE_UP = {
    "paused": "Swarm paused its update",
    "rollback_started": "Swarm is rolling its update back",
    "rollback_paused": "Swarm paused the rollback of its update",
    "rollback_completed": "Swarm rolled its update back",
}
MESSAGE_CHARS = 300  # of Swarm's UpdateStatus.Message shown


@dataclass(frozen=True)
class LiveTask:
    """A task whose desired state is in LIVE_DESIRED."""

    task_id: str
    desired: str  # DesiredState: ready | running
    state: str  # Status.State: pending, starting, running, ...
    current: bool  # made from the service's current spec (secrets and env)


def spec_essence(container_spec: Mapping[str, Any] | None) -> tuple:
    """What a rotation changes in a container spec, comparable: the secret objects with their
    targets, and the environment (a key id variable). Order does not count."""
    spec = container_spec or {}
    secrets = sorted(
        (str(s.get("SecretID") or ""), str((s.get("File") or {}).get("Name") or ""))
        for s in spec.get("Secrets") or []
    )
    return (tuple(secrets), tuple(sorted(str(e) for e in spec.get("Env") or [])))


def swarm_verdict(update_state: str, message: str = "") -> str:
    """Why Swarm itself stopped the service's rolling update, "" when it did not: `update_state`
    is its UpdateStatus.State (SWARM_GAVE_UP), `message` its UpdateStatus.Message (made one
    line, at most MESSAGE_CHARS; NOT scrubbed here: the caller's scrubber must see the result
    before anything prints or journals it)."""
    said = SWARM_GAVE_UP.get(update_state)
    if said is None:
        return ""
    line = " ".join(str(message or "").split())
    if len(line) > MESSAGE_CHARS:
        line = line[: MESSAGE_CHARS - 3] + "..."
    return f"{said} ({update_state})" + (f": {line}" if line else "")


def pending_reason(update_state: str, replicas: int | None, tasks: Sequence[LiveTask]) -> str:
    """Why the service has not converged ("" when it has). `update_state`: its UpdateStatus
    state ("" when none); `replicas`: a replicated service's replica count, None for a global
    one (then every live task must run, at least one); `tasks`: its live tasks."""
    if update_state in UPDATING:
        return "rolling update in progress"
    waiting = [t for t in tasks if t.desired != "running"]
    if waiting:
        return f"task {waiting[0].task_id[:12]} waits to replace another"
    stale = [t for t in tasks if not t.current]
    if stale:
        return (
            f"{len(stale)} task(s) not yet updated to the service's current spec (its update "
            "has not started or not finished)"
        )
    running = sum(1 for t in tasks if t.state == "running")
    wanted = replicas if replicas is not None else max(1, len(tasks))
    if running < wanted:
        return f"{running} of {wanted} running"
    if replicas is not None and len(tasks) > replicas:
        return f"{len(tasks)} tasks for {replicas} replica(s)"
    return ""
