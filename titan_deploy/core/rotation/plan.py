"""What every rotation plan shares: the Plan value, which secret a command rotates, versions.

Pure functions of the manifest and the journal's assignments; the procedures
(core/rotation/procedures/) build their plans from these.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.manifest_model import SECRETS_MOUNT
from titan_deploy.core.rotation.steps import Assignments, CheckLog, Probe, Step, current
from titan_deploy.core.versions import versions_of
from titan_deploy.errors import ConfigError, UsageError


@dataclass(frozen=True)
class Plan:
    """A procedure's steps as data, and what the journal keeps with them."""

    procedure: str
    secrets: tuple[str, ...]
    steps: tuple[Step, ...]
    initial: Assignments  # every consumer of every secret touched, before the plan
    new_versions: dict[str, int] = field(default_factory=dict)
    key_id: str | None = None
    old_key_id: str | None = None
    group: str | None = None
    # the manifest entries of `secrets` as the plan saw them: the journal keeps them, so a
    # rotation is finished or undone from the journal alone whatever the manifest says later
    specs: dict[str, SecretSpec] = field(default_factory=dict)


def snapshot(manifest: Manifest, assignments: Assignments, secrets: Iterable[str]) -> Assignments:
    """Every consumer's assignment of these secrets (defaults filled in)."""
    return {
        s: {c.service: current(assignments, s, c.service) for c in manifest.secrets[s].consumers}
        for s in secrets
    }


def next_version(existing: Iterable[int], last: int = 0) -> int:
    """Versions are never reused: one past every file, every assignment and the journal's last."""
    return max([0, last, *existing]) + 1


def versions_in_use(assignments: Assignments, secret: str) -> set[int]:
    """Every version of `secret` some consumer mounts, as primary or previous key."""
    out: set[int] = set()
    for a in assignments.get(secret, {}).values():
        out.update(v for v in (a.version, a.secondary) if v is not None)
    return out


def parse_version_files(names: Iterable[str], secret: str) -> tuple[int, ...]:
    """The N of every `<secret>.v<N>` among file names."""
    return versions_of(names, secret)


def roles(spec: SecretSpec) -> dict[str, str]:
    """service -> its role for `spec` ("signer", "listener", or "" for none)."""
    return {c.service: c.role or "" for c in spec.consumers}


def secret_spec(manifest: Manifest, secret: str, rotation: str, what: str) -> SecretSpec:
    """`secret`'s manifest entry; UsageError (exit 2) when there is none or its rotation is
    not `rotation` (`what` names the command in the message)."""
    spec = manifest.secrets.get(secret)
    if spec is None:
        raise UsageError(f"no secret {secret} in {manifest.path.name}")
    if spec.rotation != rotation:
        raise UsageError(
            f"{secret} has rotation: {spec.rotation} in {manifest.path.name}; "
            f"`rotate {what}` rotates secrets with rotation: {rotation}"
        )
    return spec


def find_secret(manifest: Manifest, rotation: str, what: str, name: str | None) -> str:
    """The one secret of this rotation kind, or `name` if given (checked as secret_spec does).
    UsageError (exit 2) when there is none or more than one (a `rolling` one must have a
    `provision`)."""
    if name:
        secret_spec(manifest, name, rotation, what)
        return name
    found = [s.name for s in manifest.secrets.values() if s.rotation == rotation]
    if rotation == "rolling":
        found = [s for s in found if manifest.secrets[s].provision]
    if len(found) != 1:
        choice = ", ".join(found) or "none"
        raise UsageError(
            f"`rotate {what}` needs --secret NAME: secrets with rotation {rotation}: {choice}"
        )
    return found[0]


def freeze(manifest: Manifest, secrets: Iterable[str]) -> dict[str, SecretSpec]:
    """These secrets' manifest entries as a plan freezes them for the journal."""
    return {s: manifest.secrets[s] for s in secrets}


def refuse_live_reload(manifest: Manifest, secrets: Iterable[str]) -> None:
    """ConfigError (exit 2) when a consumer of these secrets reloads (`reload: signal` or
    `exec`) a file the running container cannot see change.

    Truthful reload: Compose mounts a secret as a bind mount of one file, which keeps the inode
    it was made with, so a signal or a reload command would prove the OLD value. A reloading
    consumer therefore gets its target's DIRECTORY mounted (core/livemount.py), which sees a
    new version renamed into it; that needs the target in a directory of its own. Refused: a
    target directly in /run/secrets (the message names the target to use instead)."""
    for secret in secrets:
        spec = manifest.secrets[secret]
        section = "configs" if spec.is_config else "secrets"
        for consumer in spec.consumers:
            if consumer.reload.how == "restart":
                continue
            path = consumer.container_path(secret)
            if not path.startswith("/"):
                path = f"{SECRETS_MOUNT}/{path}"
            if posixpath.dirname(path) not in ("/", SECRETS_MOUNT):
                continue
            raise ConfigError(
                f"{manifest.path.name}: {section}.{secret}.consumers.{consumer.service}.reload: "
                f"{consumer.reload.describe()} cannot apply a new version at {path}: Compose "
                f"bind-mounts a file there as its own inode, which a running container never "
                f"sees replaced; set `target: {SECRETS_MOUNT}/{consumer.service}/"
                f"{posixpath.basename(path)}` (its directory is then mounted and sees each new "
                f"version), or use `reload: restart` (the default)"
            )


def proof_steps(
    manifest: Manifest,
    secrets: Iterable[str],
    service: str,
    required: bool = True,
    secret_level: bool = True,
) -> list[Step]:
    """What proves `service` took the new versions of `secrets`, after its Verify: each secret's
    verify_log and probe, then the consumer's own `proof:` (log, probe); each once, in order.
    `required=False` (a rollback): looked for and reported, never failing. `secret_level=False`:
    the consumer's `proof:` only (rotate db and hmac never used a secret's verify_log)."""
    logs: dict[str, None] = {}
    probes: dict[tuple[str, ...], None] = {}
    for secret in secrets:
        spec = manifest.secrets[secret]
        consumer = spec.consumer(service)
        if consumer is None:
            continue
        if spec.verify_log and secret_level:
            logs.setdefault(spec.verify_log)
        if spec.probe and secret_level:
            probes.setdefault(spec.probe)
        if consumer.proof is not None:
            if consumer.proof.log:
                logs.setdefault(consumer.proof.log)
            if consumer.proof.probe:
                probes.setdefault(consumer.proof.probe)
    steps: list[Step] = [CheckLog(service, p, required) for p in logs]
    return steps + [Probe(service, c, required) for c in probes]
