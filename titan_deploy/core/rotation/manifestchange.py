"""The journal against a changed manifest (issue 9.5).

A journal freezes the manifest entries of the secrets it rotates at plan time (`specs`), so a
rotation is finished or undone from the journal alone. While it is in flight the overlay, the
effects and a rollback follow the frozen entries (`effective_manifest`); `rotate resume` and
`rotate hmac --finish` refuse a manifest that changed what they rely on (`resume_refusal`,
`finish_refusal`: exit 2, naming each change); `rotate abort` always runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from titan_deploy.core.manifest import Consumer, Manifest, ProvisionSpec, SecretSpec
from titan_deploy.core.rotation.journal import Active, Journal
from titan_deploy.errors import ConfigError


def with_specs(manifest: Manifest, specs: Mapping[str, SecretSpec]) -> Manifest:
    """The manifest with these secrets' entries as frozen in a journal (in place of the
    manifest's own, or added when the manifest no longer has them)."""
    if not specs:
        return manifest
    taken = {
        (c.service, env)
        for spec in specs.values()
        for c in spec.consumers
        for env in _envs(spec, c)
    }
    merged: dict[str, SecretSpec] = {}
    for name, spec in manifest.secrets.items():
        if name in specs:
            merged[name] = specs[name]
            continue
        # another entry claiming an env var of a frozen consumer (a renamed secret, say) waits
        # until the rotation is over: the overlay cannot set one env var twice
        kept = tuple(
            c for c in spec.consumers if not any((c.service, e) in taken for e in _envs(spec, c))
        )
        merged[name] = spec if kept == spec.consumers else replace(spec, consumers=kept)
    merged.update({name: spec for name, spec in specs.items() if name not in merged})
    return replace(manifest, secrets=merged)


def _envs(spec: SecretSpec, consumer: Consumer) -> list[str]:
    """Every env var the overlay sets on `consumer` for `spec`."""
    out = list(consumer.envs)
    if spec.secondary_env and consumer.role == "listener":
        out.append(spec.secondary_env)
    if spec.key_id_env:
        out.append(spec.key_id_env)
    return out


def effective_manifest(manifest: Manifest, journal: Journal) -> Manifest:
    """What the overlay, the effects and a rollback follow: while a procedure is in flight its
    secrets are as the journal froze them (consumers, env vars, roles, provision), whatever the
    manifest says now; otherwise the manifest."""
    return with_specs(manifest, journal.active.specs) if journal.active else manifest


def manifest_changes(manifest: Manifest, specs: Mapping[str, SecretSpec]) -> list[str]:
    """How the manifest differs from the frozen entries in what a rotation relies on, one phrase
    per change naming the secret and the service: an empty list means no conflict."""
    out: list[str] = []
    where = manifest.path.name
    for name, frozen in specs.items():
        now = manifest.secrets.get(name)
        if now is None:
            out.append(f"secret {name} is no longer in {where} (removed or renamed)")
            continue
        out += [f"{name}: {change}" for change in _spec_changes(frozen, now)]
    return out


def _spec_changes(frozen: SecretSpec, now: SecretSpec) -> list[str]:
    out = []
    if frozen.rotation != now.rotation:
        out.append(f"rotation changed from {frozen.rotation} to {now.rotation}")
    before = {c.service: c for c in frozen.consumers}
    after = {c.service: c for c in now.consumers}
    out += [f"consumer {s} was removed" for s in before if s not in after]
    out += [f"consumer {s} was added" for s in after if s not in before]
    for service in (s for s in before if s in after):
        old, new = before[service], after[service]
        if old.envs != new.envs:
            noun = "env var" if len(old.envs) == len(new.envs) == 1 else "env vars"
            was, now_envs = ", ".join(old.envs), ", ".join(new.envs)
            out.append(f"{service}'s {noun} changed from {was} to {now_envs}")
        if old.role != new.role:
            out.append(f"{service}'s role changed from {old.role} to {new.role}")
    for key in ("secondary_env", "key_id_env"):
        old, new = getattr(frozen, key), getattr(now, key)
        if old != new:
            out.append(f"{key} changed from {old or 'none'} to {new or 'none'}")
    if frozen.provision != now.provision:
        out.append(
            f"provision changed from {_provision_text(frozen.provision)} to "
            f"{_provision_text(now.provision)}"
        )
    return out


def _provision_text(p: ProvisionSpec | None) -> str:
    if p is None:
        return "none"
    return f"{p.kind} in {p.service}" + (f" (role {p.role})" if p.role else "")


def conflicts(manifest: Manifest, journal: Journal) -> dict[str, list[str]]:
    """Per rotation the journal holds (the active one by id, each awaiting HMAC phase 2 by
    secret), the manifest changes it conflicts with. Empty when nothing conflicts."""
    out: dict[str, list[str]] = {}
    if journal.active is not None:
        changes = manifest_changes(manifest, journal.active.specs)
        if changes:
            out[journal.active.id] = changes
    for secret, pending in journal.pending.items():
        changes = manifest_changes(manifest, pending.specs)
        if changes:
            out[secret] = changes
    return out


class ManifestConflict(ConfigError):
    """The manifest changed since a rotation was planned in a way that finishing it would not
    honour (exit 2, nothing done); `rotate abort` undoes it from the journal alone."""


def only_cleanup_left(active: Active) -> bool:
    """Forward, and every step not yet done is cleanup (files only, past the point of no
    return): finishing it needs nothing the manifest could have changed."""
    return active.mode == "forward" and all(step.cleanup for step in active.steps[active.done :])


def resume_refusal(manifest: Manifest, journal: Journal) -> str | None:
    """Why `rotate resume` refuses the procedure in flight, None if it may run. A rollback, or
    a forward procedure with only cleanup left, runs from the journal whatever the manifest
    says; a forward one refuses when the manifest conflicts with what it froze."""
    active = journal.active
    if active is None or active.mode == "rollback" or only_cleanup_left(active):
        return None
    changes = manifest_changes(manifest, active.specs)
    if not changes:
        return None
    return (
        f"the manifest changed since the {active.procedure} rotation {active.id} started: "
        f"{'; '.join(changes)}. Resuming would finish it on consumers the journal does not "
        "know, so it is refused. Run `titan-deploy rotate abort` (it undoes the rotation from "
        "the journal alone, whatever the manifest says now), then start the rotation again; or "
        "restore the manifest as it was and run `titan-deploy rotate resume`"
    )


def finish_refusal(manifest: Manifest, journal: Journal, secret: str) -> str | None:
    """Why `rotate hmac --finish` refuses a completed phase 1 of `secret`, None if it may run."""
    pending = journal.pending.get(secret)
    changes = manifest_changes(manifest, pending.specs) if pending else []
    if not pending or not changes:
        return None
    return (
        f"the manifest changed since phase 1 of {secret} ({pending.id}): "
        f"{'; '.join(changes)}. Phase 2 would leave consumers the journal does not know on the "
        "wrong key, so it is refused. Run `titan-deploy rotate abort` (it undoes phase 1 from "
        "the journal alone), then `titan-deploy rotate hmac` again; or restore the manifest as "
        "it was and run `titan-deploy rotate hmac --finish`"
    )
