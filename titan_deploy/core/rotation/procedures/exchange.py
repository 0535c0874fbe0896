"""Restart rotation of an exchange key pair (a manifest `group`): `rotate exchange NAME`.

The operator's new values are written, then one consumer at a time is recreated, verified, and
must log the manifest's verify_log line (the proof it connected with the new key). Rollback:
each consumer that changed back to the old keys, verified, its verify_log line reported only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.plan import Plan, freeze, next_version, snapshot, versions_in_use
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.steps import (
    Assignments,
    Change,
    CheckLog,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
)
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
    last_versions = last_versions or {}
    for secret in secrets:
        spec = manifest.secrets[secret]
        if spec.rotation != "restart":
            raise UsageError(f"{secret} has rotation: {spec.rotation}; exchange keys use restart")
        if not spec.verify_log:
            raise ConfigError(
                f"{manifest.path.name}: secrets.{secret}: `rotate exchange` needs `verify_log` "
                "(the log line that proves a consumer connected with the new key)"
            )
    consumers = list(
        dict.fromkeys(c.service for s in secrets for c in manifest.secrets[s].consumers)
    )
    versions = {}
    steps: list[Step] = []
    for secret in secrets:
        used = {*existing.get(secret, ()), *versions_in_use(assignments, secret)}
        versions[secret] = next_version(used, last_versions.get(secret, 0))
        steps.append(WriteVersion(secret, versions[secret], "input"))
    for service in consumers:
        mine = [s for s in secrets if manifest.secrets[s].consumer(service)]
        steps.append(Repoint(tuple(Change(service, s, Assignment(versions[s])) for s in mine)))
        steps.append(Verify((service,)))
        for pattern in dict.fromkeys(manifest.secrets[s].verify_log for s in mine):
            steps.append(CheckLog(service, str(pattern)))
    for secret in secrets:
        steps.append(SyncBase(secret, versions[secret]))
    for secret in secrets:
        old = tuple(sorted(v for v in set(existing.get(secret, ())) if v != versions[secret]))
        if old:
            steps.append(RemoveVersions(secret, old))
    return Plan(
        procedure="exchange",
        secrets=tuple(secrets),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, secrets),
        new_versions=versions,
        group=group,
        specs=freeze(manifest, secrets),
    )


def rollback(undo: Undo) -> list[Step]:
    """Each consumer that changed back to the old keys, verified, then its verify_log patterns
    looked for and reported, not required (CheckLog required=False)."""
    manifest, secrets = undo.manifest, undo.secrets
    steps: list[Step] = []
    consumers = dict.fromkeys(c.service for s in secrets for c in manifest.secrets[s].consumers)
    for service in consumers:
        if undo.differs(service):
            steps += [undo.back([service]), Verify((service,))]
            patterns = dict.fromkeys(
                manifest.secrets[s].verify_log
                for s in secrets
                if manifest.secrets[s].consumer(service) and manifest.secrets[s].verify_log
            )
            steps += [CheckLog(service, str(p), required=False) for p in patterns]
    return steps


EXCHANGE = Procedure("exchange", plan_exchange, rollback)
