"""Swarm's own update monitor on the services a rotation updates (README "Several hosts"): the
stack overlay gives each of them `deploy.update_config.failure_action: rollback`, unless the
user's compose files set `failure_action` themselves (theirs wins). `docker stack deploy`
merges the overlay's update_config into the base files' key by key, so the user's other update
settings (parallelism, order, delay, monitor) stay.

Swarm then reverts a service whose new task fails before it runs (a healthcheck that never
passes) or within the `monitor` window of running (the user's, else Swarm's default of 5 s:
left as it is, since each rotation step waits that window out once per group); the step waiting
for that service sees Swarm's verdict (core/swarm_converge.swarm_verdict) and fails at once, and
the journal rolls the whole rotation back.
"""

from __future__ import annotations

from collections.abc import Mapping

FAILURE_ACTION = "rollback"


def user_update_config(service: object) -> Mapping:
    """The `deploy.update_config` mapping of a merged compose service ({} when it has none or
    it is not a mapping: Compose reports that itself)."""
    deploy = service.get("deploy") if isinstance(service, Mapping) else None
    update = deploy.get("update_config") if isinstance(deploy, Mapping) else None
    return update if isinstance(update, Mapping) else {}


def own_update_config(user: Mapping) -> tuple[tuple[str, str], ...]:
    """The update_config keys the overlay adds over the user's `user` (their merged
    deploy.update_config): failure_action rollback, or nothing when the user chose a
    failure_action."""
    return () if "failure_action" in user else (("failure_action", FAILURE_ACTION),)
