"""Rolling rotation of a credential that lives somewhere (PostgreSQL): `rotate db`.

New value, provisioned where the credential lives (ALTER ROLE), then one consumer at a time,
each recreated, healthy and verified before the next; the holder itself goes last. Rollback:
the old value provisioned again (if the new one was), then consumers back in reverse order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.derived import readers, render_versions
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
    configs: Mapping[str, tuple[Iterable[int], int]] | None = None,
) -> Plan:
    """Rolling: new value, provisioned where the credential lives, then one consumer at a time
    (each recreated, healthy and verified before the next); the holder itself goes last.
    `existing`: the secret's version files; `last_version`: the journal's last; `configs`:
    config -> (its version files, its last version) for the configs rendered from it (each
    gets a new version; its consumers are repointed before the holder). UsageError
    (exit 2) as secret_spec; ConfigError (exit 2) when the entry has no `provision`, or for a
    consumer whose `reload` cannot apply a new version (plan.refuse_live_reload)."""
    spec = secret_spec(manifest, secret, "rolling", "db")
    holder = spec.provision.service if spec.provision else None
    if holder is None:
        raise ConfigError(
            f"{manifest.path.name}: secrets.{secret}: `rotate db` needs `provision` "
            "(where the credential lives, e.g. provision: {kind: postgres, service: postgres})"
        )
    # consumers may mount different files (one added since the last rotation is on the base
    # file): each goes to the new version, and a rollback takes each back to its own
    version = next_version({*existing, *versions_in_use(assignments, secret)}, last_version)
    more = dict(configs or {})
    rendered, renders = render_versions(
        manifest,
        [secret],
        assignments,
        {c: files for c, (files, _) in more.items()},
        {c: last for c, (_, last) in more.items()},
    )
    versions = {secret: version, **rendered}
    refuse_live_reload(manifest, versions)
    order = _order(manifest, (secret, *rendered), holder)
    steps: list[Step] = [WriteVersion(secret, version, "generate"), *renders]
    steps.append(Provision(secret, version, holder))
    for service in order:
        mine = [s for s in versions if manifest.secrets[s].consumer(service)]
        steps.append(Repoint(tuple(Change(service, s, Assignment(versions[s])) for s in mine)))
        others = (s for s in order if s != service) if service == holder else ()
        steps.append(Verify((service, *others)))
        steps += proof_steps(manifest, mine, service, secret_level=False)
    steps += [SyncBase(s, v) for s, v in versions.items()]
    old = {secret: existing, **{c: files for c, (files, _) in more.items()}}
    for name, new in versions.items():
        superseded = tuple(sorted(v for v in set(old.get(name, ())) if v != new))
        if superseded:
            steps.append(RemoveVersions(name, superseded))
    return Plan(
        procedure="db",
        secrets=tuple(versions),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, versions),
        new_versions=versions,
        specs=freeze(manifest, versions),
    )


def _order(manifest: Manifest, secrets: tuple[str, ...], holder: str) -> list[str]:
    """The consumers of the secret and of its configs, the holder last."""
    return [s for s in readers(manifest, secrets) if s != holder] + [holder]


def rollback(undo: Undo) -> list[Step]:
    """The old value back where the credential lives (if the new one reached it), then each
    consumer that changed back to its own old file, the reverse of the plan's order."""
    secret = undo.secrets[0]
    spec = undo.manifest.secrets[secret]
    holder = spec.provision.service if spec.provision else ""
    steps: list[Step] = []
    if any(isinstance(step, Provision) for step in undo.reached):
        steps.append(Provision(secret, current(undo.initial, secret, holder).version, holder))
    for service in reversed(_order(undo.manifest, undo.secrets, holder)):
        if undo.differs(service):
            steps += [undo.back([service]), Verify((service,))]
            steps += proof_steps(undo.manifest, undo.secrets, service, False, secret_level=False)
    return steps


DB = Procedure("db", plan_db, rollback)
