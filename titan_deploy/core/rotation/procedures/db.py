"""Rolling rotation of a credential that lives somewhere (PostgreSQL): `rotate db`.

New value, provisioned where the credential lives (ALTER ROLE), then one consumer at a time,
each recreated, healthy and verified before the next; the holder itself goes last. Rollback:
the old value provisioned again (if the new one was), then consumers back in reverse order.
"""

from __future__ import annotations

from collections.abc import Iterable

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.plan import (
    Plan,
    freeze,
    next_version,
    proof_steps,
    refuse_live_reload,
    secret_spec,
    snapshot,
    versions_in_use,
)
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.steps import (
    Assignments,
    Change,
    Provision,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
    current,
)
from titan_deploy.errors import ConfigError


def plan_db(
    manifest: Manifest,
    secret: str,
    assignments: Assignments,
    existing: Iterable[int],
    last_version: int = 0,
) -> Plan:
    """Rolling: new value, provisioned where the credential lives, then one consumer at a time
    (each recreated, healthy and verified before the next); the holder itself goes last.
    `existing`: the secret's version files; `last_version`: the journal's last. UsageError
    (exit 2) as secret_spec; ConfigError (exit 2) when the entry has no `provision`."""
    spec = secret_spec(manifest, secret, "rolling", "db")
    refuse_live_reload(manifest, [secret])
    holder = spec.provision.service if spec.provision else None
    if holder is None:
        raise ConfigError(
            f"{manifest.path.name}: secrets.{secret}: `rotate db` needs `provision` "
            "(where the credential lives, e.g. provision: {kind: postgres, service: postgres})"
        )
    consumers = [c.service for c in spec.consumers]
    # consumers may mount different files (one added since the last rotation is on the base
    # file): each goes to the new version, and a rollback takes each back to its own
    version = next_version({*existing, *versions_in_use(assignments, secret)}, last_version)
    order = [s for s in consumers if s != holder] + [holder]
    steps: list[Step] = [
        WriteVersion(secret, version, "generate"),
        Provision(secret, version, holder),
    ]
    for service in order:
        steps.append(Repoint((Change(service, secret, Assignment(version)),)))
        others = (s for s in order if s != service) if service == holder else ()
        steps.append(Verify((service, *others)))
        steps += proof_steps(manifest, [secret], service, secret_level=False)
    superseded = tuple(sorted(v for v in set(existing) if v != version))
    steps.append(SyncBase(secret, version))
    if superseded:
        steps.append(RemoveVersions(secret, superseded))
    return Plan(
        procedure="db",
        secrets=(secret,),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, [secret]),
        new_versions={secret: version},
        specs=freeze(manifest, [secret]),
    )


def rollback(undo: Undo) -> list[Step]:
    """The old value back where the credential lives (if the new one reached it), then each
    consumer that changed back to its own old file, the reverse of the plan's order."""
    secret = undo.secrets[0]
    spec = undo.manifest.secrets[secret]
    holder = spec.provision.service if spec.provision else ""
    steps: list[Step] = []
    if any(isinstance(step, Provision) for step in undo.reached):
        steps.append(Provision(secret, current(undo.initial, secret, holder).version, holder))
    consumers = [c.service for c in spec.consumers]
    order = [s for s in consumers if s != holder] + [holder]
    for service in reversed(order):
        if undo.differs(service):
            steps += [undo.back([service]), Verify((service,))]
            steps += proof_steps(undo.manifest, [secret], service, False, secret_level=False)
    return steps


DB = Procedure("db", plan_db, rollback)
