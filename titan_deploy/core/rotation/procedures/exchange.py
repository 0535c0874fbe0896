"""Restart rotation of an exchange key pair (a manifest `group`): `rotate exchange NAME`.

The operator's new values are written, then one consumer at a time is recreated, verified, and
must log the manifest's verify_log line (the proof it connected with the new key). Rollback:
each consumer that changed back to the old keys, verified, its verify_log line reported only.
The steps are those of every restart rotation (procedures/restart.py), for the whole group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.rotation.plan import Plan
from titan_deploy.core.rotation.procedures.base import Procedure
from titan_deploy.core.rotation.procedures.restart import restart_plan, rollback
from titan_deploy.core.rotation.steps import Assignments
from titan_deploy.errors import ConfigError, UsageError


def plan_exchange(
    manifest: Manifest,
    group: str,
    assignments: Assignments,
    existing: Mapping[str, Iterable[int]],
    last_versions: Mapping[str, int] | None = None,
) -> Plan:
    """Restart rotation of an exchange key pair: write the operator's new values, then one
    consumer at a time: recreate, verify, and wait for the manifest's verify_log proof.
    `existing`: the version files of each secret; `last_versions`: the journal's last version
    of each. UsageError (exit 2) for an unknown group or a secret whose rotation is not
    `restart`; ConfigError (exit 2) for one without `verify_log`."""
    groups = manifest.groups()
    if group not in groups:
        names = ", ".join(sorted(groups)) or "none"
        raise UsageError(f"no exchange group {group} in {manifest.path.name} (groups: {names})")
    secrets = groups[group]
    for secret in secrets:
        spec = manifest.secrets[secret]
        if spec.rotation != "restart":
            raise UsageError(f"{secret} has rotation: {spec.rotation}; exchange keys use restart")
        if not spec.verify_log:
            raise ConfigError(
                f"{manifest.path.name}: secrets.{secret}: `rotate exchange` needs `verify_log` "
                "(the log line that proves a consumer connected with the new key)"
            )
    return restart_plan(
        manifest,
        "exchange",
        tuple(secrets),
        assignments,
        existing,
        last_versions or {},
        "input",
        group=group,
    )


EXCHANGE = Procedure("exchange", plan_exchange, rollback)
