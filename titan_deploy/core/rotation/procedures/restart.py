"""Restart rotation of one secret outside an exchange group: `rotate secret NAME` (README
"Rotation runbook", "4. Any other secret").

For a secret with `rotation: restart` and no `group` (Grafana's admin password, the Gemini key,
every secret `adopt` found): a new version file (the operator's value, or a generated one), then
one consumer at a time recreated on it, healthy and verified (what its container holds is the new
file, by hash) and, where the manifest has `verify_log`, its proof in the consumer's logs; the
base file takes the new value and superseded versions go. Rollback: each consumer that changed
back to its old file, verified, its verify_log proof looked for but not required.

The steps are the same for an exchange key pair (procedures/exchange.py, a group of secrets
proved together): both build their plan with `restart_plan` and share `rollback`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.drift import rotate_command
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.derived import readers, render_versions
from titan_deploy.core.rotation.plan import (
    Plan,
    freeze,
    next_version,
    proof_steps,
    refuse_live_reload,
    snapshot,
    versions_in_use,
)
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.steps import (
    Assignments,
    Change,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
)
from titan_deploy.errors import UsageError

SOURCES = ("input", "generate")  # where a restart rotation's new value comes from


def restart_spec(manifest: Manifest, secret: str, source: str = "input") -> SecretSpec:
    """`secret`'s entry if `rotate secret` rotates it, with its new value from `source`
    ("input": the operator's; "generate": a random one).

    UsageError (exit 2, one line naming the right command) for an unknown secret, one whose
    rotation is hmac or rolling, one in an exchange group, one nothing consumes, and `generate`
    for a secret the manifest does not let the tool generate."""
    spec = manifest.secrets.get(secret)
    if spec is None:
        names = [s.name for s in manifest.secrets.values() if _rotates(s)]
        raise UsageError(
            f"no secret {secret} in {manifest.path.name} (rotation: restart, outside an exchange "
            f"group: {', '.join(names) or 'none'})"
        )
    if spec.is_config:
        raise UsageError(
            f"{secret} is a config rendered from {', '.join(spec.inputs)}: rotate an input and "
            'it gets a new version (README "Config files")'
        )
    if not _rotates(spec):
        command = rotate_command(manifest, secret)
        how = f"rotate it with `{command}`" if command else _no_command(spec)
        kind = (
            f"is in exchange group {spec.group}" if spec.group else f"has rotation: {spec.rotation}"
        )
        raise UsageError(f"{secret} {kind} in {manifest.path.name}: {how}")
    if not spec.consumers and not manifest.configs_using([secret]):
        raise UsageError(
            f"no service consumes {secret}: nothing to restart (write secrets/{secret} itself)"
        )
    if source == "generate" and not spec.generate:
        raise UsageError(
            f"{secret} has generate: false in {manifest.path.name} (its value comes from "
            "outside): give the new value with --from-file, on stdin or at the prompt"
        )
    return spec


def _rotates(spec: SecretSpec) -> bool:
    return spec.rotation == "restart" and not spec.group and not spec.is_config


def _no_command(spec: SecretSpec) -> str:
    return (
        "no rotate command covers it (rotation rolling without `provision`: the tool cannot set "
        "the credential where it lives)"
    )


def plan_restart(
    manifest: Manifest,
    secret: str,
    assignments: Assignments,
    existing: Iterable[int],
    last_version: int = 0,
    source: str = "input",
    configs: Mapping[str, tuple[Iterable[int], int]] | None = None,
) -> Plan:
    """The restart rotation of `secret` (restart_spec's refusals apply): its new version from
    `source`, then each consumer recreated, verified and (with verify_log) proved, one at a time.
    `existing`: the secret's version files; `last_version`: the journal's last; `configs`:
    config -> (its version files, its last version) for the configs rendered from it."""
    restart_spec(manifest, secret, source)
    more = dict(configs or {})
    return restart_plan(
        manifest,
        "restart",
        (secret,),
        assignments,
        {secret: existing, **{c: files for c, (files, _) in more.items()}},
        {secret: last_version, **{c: last for c, (_, last) in more.items()}},
        source,
    )


def restart_plan(
    manifest: Manifest,
    procedure: str,
    secrets: tuple[str, ...],
    assignments: Assignments,
    existing: Mapping[str, Iterable[int]],
    last_versions: Mapping[str, int],
    source: str,
    group: str | None = None,
) -> Plan:
    """The steps a restart rotation of `secrets` takes (already validated by the caller):
    write each new version (from `source`); then, one consumer at a time in manifest order,
    repoint it at the new versions of the secrets it reads, verify it, and wait for each
    verify_log proof of those secrets; then the base files take the new values and the
    superseded versions go (cleanup). ConfigError (exit 2) for a consumer (of a secret, or of
    a config rendered from one) whose `reload` cannot apply a new version
    (plan.refuse_live_reload)."""
    versions: dict[str, int] = {}
    steps: list[Step] = []
    for secret in secrets:
        used = {*existing.get(secret, ()), *versions_in_use(assignments, secret)}
        versions[secret] = next_version(used, last_versions.get(secret, 0))
        steps.append(WriteVersion(secret, versions[secret], source))
    # the configs rendered from them: a new version each, their consumers repointed too
    rendered, renders = render_versions(manifest, secrets, assignments, existing, last_versions)
    versions.update(rendered)
    steps += renders
    secrets = (*secrets, *rendered)
    refuse_live_reload(manifest, secrets)
    consumers = readers(manifest, secrets)
    for service in consumers:
        mine = [s for s in secrets if manifest.secrets[s].consumer(service)]
        steps.append(Repoint(tuple(Change(service, s, Assignment(versions[s])) for s in mine)))
        steps.append(Verify((service,)))
        steps += proof_steps(manifest, mine, service)
    steps += [SyncBase(secret, versions[secret]) for secret in secrets]
    for secret in secrets:
        old = tuple(sorted(v for v in set(existing.get(secret, ())) if v != versions[secret]))
        if old:
            steps.append(RemoveVersions(secret, old))
    return Plan(
        procedure=procedure,
        secrets=tuple(secrets),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, secrets),
        new_versions=versions,
        group=group,
        specs=freeze(manifest, secrets),
    )


def rollback(undo: Undo) -> list[Step]:
    """Each consumer that changed back to its old files, verified, then its proofs (verify_log,
    probes) looked for and reported, not required (required=False)."""
    manifest, secrets = undo.manifest, undo.secrets
    steps: list[Step] = []
    consumers = dict.fromkeys(c.service for s in secrets for c in manifest.secrets[s].consumers)
    for service in consumers:
        if undo.differs(service):
            steps += [undo.back([service]), Verify((service,))]
            mine = [s for s in secrets if manifest.secrets[s].consumer(service)]
            steps += proof_steps(manifest, mine, service, required=False)
    return steps


RESTART = Procedure("restart", plan_restart, rollback)
