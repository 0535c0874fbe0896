"""Swarm's own update monitor on the services a rotation updates (README "Several hosts"): the
stack overlay gives each of them `deploy.update_config.failure_action: rollback` and a `monitor`
window, unless the user's compose files set `failure_action` themselves (theirs wins; a `monitor`
of theirs is kept too). `docker stack deploy` merges the overlay's update_config into the base
files' key by key, so the user's other update settings (parallelism, order, delay) stay.

Swarm then reverts a service whose new task fails before it runs (a healthcheck that never
passes) or within MONITOR of running; the step waiting for that service sees Swarm's verdict
(core/swarm_converge.swarm_verdict) and fails at once, and the journal rolls the whole rotation
back. The monitor window also delays the update's `completed` state, so each rotation step waits
it out once per group: short on purpose (Swarm's own default is 5s).
"""

from __future__ import annotations

from collections.abc import Mapping

FAILURE_ACTION = "rollback"
MONITOR = "10s"  # Swarm's update_config.monitor: how long a new task's failure still counts


def user_update_config(service: object) -> Mapping:
    """The `deploy.update_config` mapping of a merged compose service ({} when it has none or
    it is not a mapping: Compose reports that itself)."""
    deploy = service.get("deploy") if isinstance(service, Mapping) else None
    update = deploy.get("update_config") if isinstance(deploy, Mapping) else None
    return update if isinstance(update, Mapping) else {}


def own_update_config(user: Mapping) -> tuple[tuple[str, str], ...]:
    """The update_config keys the overlay adds over the user's `user` (their merged
    deploy.update_config): failure_action rollback and the MONITOR window, or nothing when the
    user chose a failure_action (a monitor of theirs is never overridden)."""
    if "failure_action" in user:
        return ()
    own = [("failure_action", FAILURE_ACTION)]
    if "monitor" not in user:
        own.append(("monitor", MONITOR))
    return tuple(own)
