"""HMAC: two phases (README "1. HMAC key"), so that no message is ever rejected.

The overlay cannot name the base file as a listener's *previous* key, so a first rotation pins
the base value as a version first (WriteVersion source "copy"). Phase 1 (`hmac`): listeners ->
primary new + previous old, verified; then signers -> new. Every Repoint also sets the new key
id. Completing phase 1 records a PendingPhase2 in the journal. Phase 2 (`hmac-finish`, allowed
after finish_after_hours): listeners drop the previous key; cleanup. Rollback of either: signers
back first, then listeners.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.journal import Active, PendingPhase2, iso
from titan_deploy.core.rotation.plan import (
    Plan,
    freeze,
    next_version,
    proof_steps,
    refuse_live_reload,
    roles,
    secret_spec,
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
    current,
    describe_version,
)
from titan_deploy.errors import UsageError


def new_key_id(version: int, token: str) -> str:
    """A key id is new on every rotation: the version plus a random token (not secret)."""
    return f"k{version}-{token}"


def _hmac_old_key(
    assignments: Assignments, secret: str, signers: list[str], listeners: list[str]
) -> Assignment:
    """The key every listener must keep accepting during phase 1: the one the signers sign
    with. Consumers need not all mount the same file when no rotation is in flight (a consumer
    added to the manifest after a rotation still mounts the base file); the signers must agree
    (else the listeners' common key); a previous key kept without a phase 1 in the journal, or
    no key every signer or every listener agrees on, is named with what to do."""
    everyone = [*signers, *listeners]
    kept = [s for s in everyone if current(assignments, secret, s).secondary is not None]
    if kept:
        raise UsageError(
            f"{secret}: {', '.join(kept)} still accept a previous key, but the journal has no "
            "HMAC phase 1 awaiting phase 2 (was state.json edited or replaced?): restore "
            "state.json from the backup taken with the secrets dir"
        )
    for group in (signers, listeners):
        seen = {current(assignments, secret, s) for s in group}
        if len(seen) == 1:
            return next(iter(seen))
    uses = ", ".join(
        f"{s} {describe_version(current(assignments, secret, s).version)}" for s in everyone
    )
    raise UsageError(
        f"{secret}: no rotation is in flight, but its signers mount different key files and so "
        f"do its listeners ({uses}): the manifest's consumers changed since the last rotation. "
        "Make every signer use one key first (`titan-deploy up` deploys what the journal says)"
    )


def plan_hmac(
    manifest: Manifest,
    secret: str,
    assignments: Assignments,
    existing: Iterable[int],
    key_token: str,
    last_version: int = 0,
) -> Plan:
    """Phase 1: pin the old value if it is the base file, write the new one, listeners accept
    both (verified), then signers sign with the new one. The key id is new_key_id(new version,
    key_token): callers pass a fresh random token, so a key id is never reused. `existing`:
    the secret's version files; `last_version`: the journal's last. UsageError (exit 2) as
    secret_spec, or when the consumers' keys leave no old key every listener can keep."""
    spec = secret_spec(manifest, secret, "hmac", "hmac")
    refuse_live_reload(manifest, [secret])
    role = roles(spec)
    signers = [s for s, r in role.items() if r == "signer"]
    listeners = [s for s, r in role.items() if r == "listener"]
    old = _hmac_old_key(assignments, secret, signers, listeners)
    used = {*existing, *versions_in_use(assignments, secret)}
    version = next_version(used, last_version)
    steps: list[Step] = []
    previous = old.version
    if previous is None:
        steps.append(WriteVersion(secret, version, "copy", copy_of=None))
        previous, version = version, version + 1
    key_id = new_key_id(version, key_token)
    steps.append(WriteVersion(secret, version, "generate"))
    steps.append(
        Repoint(tuple(Change(s, secret, Assignment(version, previous, key_id)) for s in listeners))
    )
    steps.append(Verify(tuple(listeners)))
    steps += _proofs(manifest, secret, listeners)
    steps.append(
        Repoint(tuple(Change(s, secret, Assignment(version, None, key_id)) for s in signers))
    )
    steps.append(Verify(tuple(signers)))
    steps += _proofs(manifest, secret, signers)
    return Plan(
        procedure="hmac",
        secrets=(secret,),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, [secret]),
        new_versions={secret: version},
        key_id=key_id,
        old_key_id=old.key_id,
        specs=freeze(manifest, [secret]),
    )


def plan_hmac_finish(
    manifest: Manifest, secret: str, assignments: Assignments, existing: Iterable[int]
) -> Plan:
    """Phase 2: listeners drop the previous key (signers already sign with the new one), then
    cleanup: the base file takes the current value and superseded versions go. UsageError
    (exit 2) when the assignments show no phase 1 to finish."""
    spec = secret_spec(manifest, secret, "hmac", "hmac --finish")
    refuse_live_reload(manifest, [secret])
    role = roles(spec)
    signers = [s for s, r in role.items() if r == "signer"]
    listeners = [s for s, r in role.items() if r == "listener"]
    signing = {current(assignments, secret, s) for s in signers}
    listening = {current(assignments, secret, s) for s in listeners}
    if len(signing) != 1 or len(listening) != 1:
        raise UsageError(f"{secret}: consumers disagree on the key; run `rotate status`")
    sign, listen = next(iter(signing)), next(iter(listening))
    if sign.version is None or listen.secondary is None or listen.version != sign.version:
        raise UsageError(
            f"{secret} has no phase 1 to finish (listeners keep no previous key): "
            "start one with `titan-deploy rotate hmac`"
        )
    new = sign.version
    target = Assignment(new, None, sign.key_id)
    superseded = tuple(sorted(v for v in set(existing) | {listen.secondary} if v != new))
    steps: tuple[Step, ...] = (
        Repoint(tuple(Change(s, secret, target) for s in listeners)),
        Verify(tuple(listeners)),
        *_proofs(manifest, secret, listeners),
        SyncBase(secret, new),
    )
    if superseded:
        steps += (RemoveVersions(secret, superseded),)
    return Plan(
        procedure="hmac-finish",
        secrets=(secret,),
        steps=steps,
        initial=snapshot(manifest, assignments, [secret]),
        new_versions={secret: new},
        key_id=sign.key_id,
        old_key_id=sign.key_id,
        specs=freeze(manifest, [secret]),
    )


def _proofs(
    manifest: Manifest, secret: str, services: Iterable[str], required: bool = True
) -> list[Step]:
    """Each service's own `proof:` of `secret` (plan.proof_steps), in order."""
    out: list[Step] = []
    for service in services:
        out += proof_steps(manifest, [secret], service, required, secret_level=False)
    return out


def rollback(undo: Undo) -> list[Step]:
    """Signers back to the old key first, then listeners (each group verified)."""
    role = roles(undo.manifest.secrets[undo.secrets[0]])
    steps: list[Step] = []
    for wanted in ("signer", "listener"):
        group = [s for s, r in role.items() if r == wanted and undo.differs(s)]
        if group:
            steps += [undo.back(group), Verify(tuple(group))]
            steps += _proofs(undo.manifest, undo.secrets[0], group, required=False)
    return steps


def phase1_completed(
    active: Active,
    pending: Mapping[str, PendingPhase2],
    now: datetime,
    finish_after_hours: float | None,
) -> tuple[str, dict[str, PendingPhase2]]:
    """Phase 1 done: its secret awaits phase 2, allowed `finish_after_hours` (default 24) from
    `now`; the journal keeps what an abort needs (versions written, assignments before,
    frozen entries)."""
    secret = active.secrets[0]
    out = dict(pending)
    out[secret] = PendingPhase2(
        id=active.id,
        phase1_completed_at=iso(now),
        finish_after_hours=finish_after_hours if finish_after_hours is not None else 24.0,
        new_version=active.new_versions[secret],
        written=tuple(s.version for s in active.steps if isinstance(s, WriteVersion)),
        key_id=active.key_id,
        old_key_id=active.old_key_id,
        initial=active.initial,
        specs=dict(active.specs),
    )
    return "phase 1 completed", out


def phase2_completed(
    active: Active,
    pending: Mapping[str, PendingPhase2],
    now: datetime,
    finish_after_hours: float | None,
) -> tuple[str, dict[str, PendingPhase2]]:
    """Phase 2 done: its secret no longer awaits it."""
    return "completed", {k: v for k, v in pending.items() if k != active.secrets[0]}


HMAC = Procedure("hmac", plan_hmac, rollback, phase1_completed)
HMAC_FINISH = Procedure("hmac-finish", plan_hmac_finish, rollback, phase2_completed)
