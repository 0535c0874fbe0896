"""Rotation plans as data (DESIGN §8): pure functions of the manifest and the journal.

A plan is a tuple of small frozen Step values. The executor (ops/rotate) runs them one at a time
and journals after each; nothing here touches the disk, the engine or the clock (times are
parameters), so every plan, every rollback and every crash point is unit-tested as data.

Steps:
- WriteVersion   a NEW file `secrets/<name>.v<N>` (generated, copied from another version, or
                 the operator's input). Never an existing file: invariant 1.
- Repoint        set the assignments of one or more services (the overlay points them at other
                 versions), render the overlay, recreate exactly those services, wait healthy.
- Verify         the services' containers are healthy and mount what the overlay says (same hash
                 as the host file, readable, *_FILE env right).
- Provision      set the credential where it lives: ALTER ROLE in the running PostgreSQL.
- CheckLog       the manifest's verify_log pattern appears in the service's logs since its start.
- SyncBase       cleanup: the base file `secrets/<name>` takes the current value (so
                 check-secrets and `init` see it); only when no container mounts the base file.
- RemoveVersions cleanup: delete superseded version files that no container mounts.

HMAC (invariant 2). The overlay cannot name the base file as a listener's *previous* key, so a
first rotation pins the base value as a version first (WriteVersion source "copy"). Phase 1:
listeners -> primary new + previous old, verified; then signers -> new. Phase 2: listeners drop
the previous key; cleanup. Every Repoint also sets the new key id. Rollback: signers back first,
then listeners. Once a cleanup step has started a procedure is past its point of no return: it
can only be resumed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from titan_deploy.core.manifest import (
    ENV_RE,
    NAME_RE,
    Consumer,
    Manifest,
    ProvisionSpec,
    SecretSpec,
)
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.versions import file_name, versions_of
from titan_deploy.errors import ConfigError, UsageError

PROCEDURES = ("hmac", "hmac-finish", "db", "exchange")
Assignments = dict[str, dict[str, Assignment]]  # secret -> service -> assignment


# --- steps ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One service's new assignment of one secret."""

    service: str
    secret: str
    assignment: Assignment


@dataclass(frozen=True)
class WriteVersion:
    secret: str
    version: int
    source: str  # "generate" | "input" | "copy"
    copy_of: int | None = None  # source "copy": this version (None: the base file)
    action: ClassVar[str] = "write-version"
    cleanup: ClassVar[bool] = False

    def describe(self) -> str:
        what = {
            "generate": "a new random value",
            "input": "the new value you supplied",
            "copy": f"a copy of {file_name(self.secret, self.copy_of)} (pins the value in use)",
        }[self.source]
        return f"write {file_name(self.secret, self.version)}: {what}"


@dataclass(frozen=True)
class Repoint:
    changes: tuple[Change, ...]
    action: ClassVar[str] = "repoint"
    cleanup: ClassVar[bool] = False

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.service for c in self.changes))

    def describe(self) -> str:
        by_target: dict[str, list[str]] = {}
        for service in self.services:
            mine = [c for c in self.changes if c.service == service]
            target = "; ".join(_describe_assignment(c) for c in mine)
            by_target.setdefault(target, []).append(service)
        parts = [f"{', '.join(services)} -> {target}" for target, services in by_target.items()]
        return "repoint " + " | ".join(parts) + "; recreate, wait healthy"


@dataclass(frozen=True)
class Verify:
    services: tuple[str, ...]
    action: ClassVar[str] = "verify"
    cleanup: ClassVar[bool] = False

    def describe(self) -> str:
        return (
            f"verify {', '.join(self.services)}: healthy, each secret mounted as the overlay says"
        )


@dataclass(frozen=True)
class Provision:
    secret: str
    version: int | None
    service: str
    action: ClassVar[str] = "provision"
    cleanup: ClassVar[bool] = False

    def describe(self) -> str:
        return (
            f"ALTER ROLE in {self.service}: password := {file_name(self.secret, self.version)} "
            "(SCRAM verifier on psql's stdin)"
        )


@dataclass(frozen=True)
class CheckLog:
    service: str
    pattern: str
    required: bool = True
    action: ClassVar[str] = "check-log"
    cleanup: ClassVar[bool] = False

    def describe(self) -> str:
        soft = "" if self.required else " (report only)"
        return f"wait for /{self.pattern}/ in {self.service}'s logs since its restart{soft}"


@dataclass(frozen=True)
class SyncBase:
    secret: str
    version: int
    action: ClassVar[str] = "sync-base"
    cleanup: ClassVar[bool] = True

    def describe(self) -> str:
        return (
            f"copy {file_name(self.secret, self.version)} to {self.secret} "
            "(only if no container mounts it)"
        )


@dataclass(frozen=True)
class RemoveVersions:
    secret: str
    versions: tuple[int, ...]
    action: ClassVar[str] = "remove-versions"
    cleanup: ClassVar[bool] = True

    def describe(self) -> str:
        names = ", ".join(file_name(self.secret, v) for v in self.versions) or "nothing"
        return f"remove superseded {names} (only files no container mounts)"


Step = WriteVersion | Repoint | Verify | Provision | CheckLog | SyncBase | RemoveVersions
STEP_TYPES: dict[str, type] = {
    t.action: t
    for t in (WriteVersion, Repoint, Verify, Provision, CheckLog, SyncBase, RemoveVersions)
}


def _describe_assignment(change: Change) -> str:
    a = change.assignment
    text = f"{change.secret} {_v(a.version)}"
    if a.secondary is not None:
        text += f" + previous {_v(a.secondary)}"
    if a.key_id:
        text += f", key id {a.key_id}"
    return text


def _v(version: int | None) -> str:
    return "base" if version is None else f"v{version}"


# --- plans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
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


def current(assignments: Mapping[str, Mapping[str, Assignment]], secret: str, service: str):
    return assignments.get(secret, {}).get(service, Assignment())


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
    out: set[int] = set()
    for a in assignments.get(secret, {}).values():
        out.update(v for v in (a.version, a.secondary) if v is not None)
    return out


def parse_version_files(names: Iterable[str], secret: str) -> tuple[int, ...]:
    """The N of every `<secret>.v<N>` among file names."""
    return versions_of(names, secret)


def roles(spec: SecretSpec) -> dict[str, str]:
    return {c.service: c.role or "" for c in spec.consumers}


def _spec(manifest: Manifest, secret: str, rotation: str, what: str) -> SecretSpec:
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
    """The one secret of this rotation kind, or the one named; exit 2 if ambiguous."""
    if name:
        _spec(manifest, name, rotation, what)
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
    uses = ", ".join(f"{s} {_v(current(assignments, secret, s).version)}" for s in everyone)
    raise UsageError(
        f"{secret}: no rotation is in flight, but its signers mount different key files and so "
        f"do its listeners ({uses}): the manifest's consumers changed since the last rotation. "
        "Make every signer use one key first (`titan-deploy up` deploys what the journal says)"
    )


def _freeze(manifest: Manifest, secrets: Iterable[str]) -> dict[str, SecretSpec]:
    return {s: manifest.secrets[s] for s in secrets}


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
    key_token): callers pass a fresh random token, so a key id is never reused."""
    spec = _spec(manifest, secret, "hmac", "hmac")
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
    steps.append(
        Repoint(tuple(Change(s, secret, Assignment(version, None, key_id)) for s in signers))
    )
    steps.append(Verify(tuple(signers)))
    return Plan(
        procedure="hmac",
        secrets=(secret,),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, [secret]),
        new_versions={secret: version},
        key_id=key_id,
        old_key_id=old.key_id,
        specs=_freeze(manifest, [secret]),
    )


def plan_hmac_finish(
    manifest: Manifest, secret: str, assignments: Assignments, existing: Iterable[int]
) -> Plan:
    """Phase 2: listeners drop the previous key (signers already sign with the new one), then
    cleanup: the base file takes the current value and superseded versions go."""
    spec = _spec(manifest, secret, "hmac", "hmac --finish")
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
        specs=_freeze(manifest, [secret]),
    )


def plan_db(
    manifest: Manifest,
    secret: str,
    assignments: Assignments,
    existing: Iterable[int],
    last_version: int = 0,
) -> Plan:
    """Rolling: new value, provisioned where the credential lives, then one consumer at a time
    (each recreated, healthy and verified before the next); the holder itself goes last."""
    spec = _spec(manifest, secret, "rolling", "db")
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
        specs=_freeze(manifest, [secret]),
    )


def plan_exchange(
    manifest: Manifest,
    group: str,
    assignments: Assignments,
    existing: Mapping[str, Iterable[int]],
    last_versions: Mapping[str, int] | None = None,
) -> Plan:
    """Restart rotation of an exchange key pair: write the operator's new values, then one
    consumer at a time: recreate, verify, and wait for the manifest's verify_log proof."""
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
        specs=_freeze(manifest, secrets),
    )


# --- applying steps, rolling back ----------------------------------------------------------------


def apply_step(assignments: Assignments, step: Step) -> Assignments:
    """The assignments once `step` is applied (only Repoint changes them)."""
    if not isinstance(step, Repoint):
        return assignments
    out = {secret: dict(services) for secret, services in assignments.items()}
    for change in step.changes:
        out.setdefault(change.secret, {})[change.service] = change.assignment
    return out


def apply_steps(assignments: Assignments, steps: Iterable[Step]) -> Assignments:
    for step in steps:
        assignments = apply_step(assignments, step)
    return assignments


class PastPointOfNoReturn(UsageError):
    """Cleanup has started: the old value may be gone, so the rotation can only go forward."""


def rollback_steps(
    manifest: Manifest,
    procedure: str,
    secrets: tuple[str, ...],
    initial: Assignments,
    now: Assignments,
    reached: Iterable[Step],
) -> tuple[Step, ...]:
    """How to undo a procedure that got as far as `reached` (steps done or started), from the
    assignments the journal holds `now`. Only services whose assignment differs are repointed;
    every step is idempotent, so a rollback interrupted by a crash is simply run again."""
    reached = tuple(reached)
    missing = [s for s in secrets if s not in manifest.secrets]
    if missing:
        raise ConfigError(
            f"the journal of this {procedure} rotation does not record the manifest entry of "
            f"{', '.join(missing)} (it predates titan-deploy's frozen entries) and "
            f"{manifest.path.name} no longer has it: restore that entry in the manifest, then "
            "run `titan-deploy rotate abort` again"
        )
    if any(step.cleanup for step in reached):
        raise PastPointOfNoReturn(
            f"the {procedure} rotation is past its point of no return (cleanup started): "
            "run `titan-deploy rotate resume` to finish it"
        )

    def differs(service: str) -> bool:
        return any(
            current(now, s, service) != current(initial, s, service)
            for s in secrets
            if manifest.secrets[s].consumer(service)
        )

    def back(services: Iterable[str]) -> Repoint:
        return Repoint(
            tuple(
                Change(service, s, current(initial, s, service))
                for service in services
                for s in secrets
                if manifest.secrets[s].consumer(service)
            )
        )

    steps: list[Step] = []
    if procedure in ("hmac", "hmac-finish"):
        role = roles(manifest.secrets[secrets[0]])
        for wanted in ("signer", "listener"):  # signers back to the old key first
            group = [s for s, r in role.items() if r == wanted and differs(s)]
            if group:
                steps += [back(group), Verify(tuple(group))]
    elif procedure == "db":
        spec = manifest.secrets[secrets[0]]
        holder = spec.provision.service if spec.provision else ""
        if any(isinstance(step, Provision) for step in reached):
            steps.append(
                Provision(secrets[0], current(initial, secrets[0], holder).version, holder)
            )
        consumers = [c.service for c in spec.consumers]
        order = [s for s in consumers if s != holder] + [holder]
        for service in reversed(order):
            if differs(service):
                steps += [back([service]), Verify((service,))]
    elif procedure == "exchange":
        consumers = dict.fromkeys(c.service for s in secrets for c in manifest.secrets[s].consumers)
        for service in consumers:
            if differs(service):
                steps += [back([service]), Verify((service,))]
                patterns = dict.fromkeys(
                    manifest.secrets[s].verify_log
                    for s in secrets
                    if manifest.secrets[s].consumer(service) and manifest.secrets[s].verify_log
                )
                steps += [CheckLog(service, str(p), required=False) for p in patterns]
    else:  # pragma: no cover - procedures are validated when the journal is read
        raise ConfigError(f"unknown rotation procedure {procedure}")
    written: dict[str, list[int]] = {}
    for step in reached:
        if isinstance(step, WriteVersion):
            written.setdefault(step.secret, []).append(step.version)
    for secret, versions in written.items():
        keep = versions_in_use(initial, secret)
        gone = tuple(sorted(v for v in versions if v not in keep))
        if gone:
            steps.append(RemoveVersions(secret, gone))
    return tuple(steps)


# --- the journal (DESIGN §8.7) as values ---------------------------------------------------------


@dataclass
class Active:
    """The procedure in flight: its steps, how far it got, and what it started from."""

    id: str
    procedure: str
    secrets: tuple[str, ...]
    steps: tuple[Step, ...]
    initial: Assignments
    started_at: str
    mode: str = "forward"  # "forward" | "rollback"
    done: int = 0
    in_progress: int | None = None
    new_versions: dict[str, int] = field(default_factory=dict)
    key_id: str | None = None
    old_key_id: str | None = None
    group: str | None = None
    forward_steps: tuple[Step, ...] = ()  # in rollback mode: the plan being undone
    forward_reached: int = 0  # ... and how many of its steps were reached
    reason: str | None = None  # why a rollback started
    log: list[dict[str, Any]] = field(default_factory=list)
    specs: dict[str, SecretSpec] = field(default_factory=dict)  # frozen at plan time

    @property
    def reached(self) -> tuple[Step, ...]:
        end = self.done if self.in_progress is None else self.in_progress + 1
        return self.steps[:end]


@dataclass(frozen=True)
class PendingPhase2:
    """A completed HMAC phase 1 awaiting phase 2 (`rotate hmac --finish`) or `rotate abort`."""

    id: str  # the run id of phase 1
    phase1_completed_at: str  # ISO 8601, seconds
    finish_after_hours: float  # phase 2 is refused before this many hours (unless --force)
    new_version: int  # the version every consumer uses as its primary key
    written: tuple[int, ...]  # every version phase 1 wrote (an abort removes them)
    key_id: str | None = None
    old_key_id: str | None = None
    initial: Assignments = field(default_factory=dict)  # the assignments before phase 1
    specs: dict[str, SecretSpec] = field(default_factory=dict)  # frozen at plan time

    def allowed_at(self, min_age_hours: float | None = None) -> datetime:
        """When phase 2 is allowed: phase 1's completion plus `min_age_hours` (hours), else
        plus the journaled finish_after_hours. ValueError if the journaled time is not ISO."""
        hours = self.finish_after_hours if min_age_hours is None else min_age_hours
        return parse_iso(self.phase1_completed_at) + timedelta(hours=float(hours))


@dataclass(frozen=True)
class HistoryRecord:
    """One finished procedure, as `rotate status` lists it (the journal keeps the last 50)."""

    id: str
    procedure: str
    secrets: tuple[str, ...]
    outcome: str  # "completed" | "rolled back" | "phase 1 completed"
    started_at: str  # ISO 8601
    finished_at: str  # ISO 8601
    versions: dict[str, int] = field(default_factory=dict)  # the new version of each secret
    key_id: str | None = None
    reason: str | None = None  # why it was rolled back


HISTORY_KEPT = 50


@dataclass
class Journal:
    """What `state.json` holds: the overlay's assignments, the last version written per secret
    (versions are never reused), the procedure in flight, the HMAC phase 1s awaiting phase 2
    (by secret) and the last finished procedures."""

    assignments: Assignments = field(default_factory=dict)
    last_version: dict[str, int] = field(default_factory=dict)
    active: Active | None = None
    pending: dict[str, PendingPhase2] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)


def start(plan: Plan, journal: Journal, run_id: str, now: datetime) -> Journal:
    """The journal once `plan` is accepted (nothing executed yet)."""
    last = dict(journal.last_version)
    for secret, version in plan.new_versions.items():
        last[secret] = max(last.get(secret, 0), version)
    for step in plan.steps:
        if isinstance(step, WriteVersion):
            last[step.secret] = max(last.get(step.secret, 0), step.version)
    active = Active(
        id=run_id,
        procedure=plan.procedure,
        secrets=plan.secrets,
        steps=plan.steps,
        initial=plan.initial,
        started_at=iso(now),
        new_versions=dict(plan.new_versions),
        key_id=plan.key_id,
        old_key_id=plan.old_key_id,
        group=plan.group,
        specs=dict(plan.specs),
    )
    return replace(journal, last_version=last, active=active)


def begin_rollback(manifest: Manifest, journal: Journal, reason: str) -> Journal:
    """Switch the active procedure to its rollback (idempotent if already rolling back)."""
    active = journal.active
    if active is None:
        raise UsageError("no rotation in flight")
    if active.mode == "rollback":
        return journal
    steps = rollback_steps(
        with_specs(manifest, active.specs),
        active.procedure,
        active.secrets,
        active.initial,
        journal.assignments,
        active.reached,
    )
    rolled = replace(
        active,
        mode="rollback",
        forward_steps=active.steps,
        forward_reached=len(active.reached),
        steps=steps,
        done=0,
        in_progress=None,
        reason=reason,
    )
    return replace(journal, active=rolled)


def rollback_pending(
    manifest: Manifest, journal: Journal, secret: str, run_id: str, now: datetime, reason: str
) -> Journal:
    """Abort a completed HMAC phase 1 that awaits phase 2: back to the keys before it."""
    pending = journal.pending[secret]
    written = tuple(WriteVersion(secret, v, "generate") for v in pending.written)
    steps = rollback_steps(
        with_specs(manifest, pending.specs),
        "hmac",
        (secret,),
        pending.initial,
        journal.assignments,
        written,
    )
    active = Active(
        id=run_id,
        procedure="hmac",
        secrets=(secret,),
        steps=steps,
        initial=pending.initial,
        started_at=iso(now),
        mode="rollback",
        new_versions={secret: pending.new_version},
        key_id=pending.key_id,
        old_key_id=pending.old_key_id,
        forward_steps=written,
        forward_reached=len(written),
        reason=reason,
        specs=dict(pending.specs),
    )
    rest = {k: v for k, v in journal.pending.items() if k != secret}
    return replace(journal, active=active, pending=rest)


def complete(journal: Journal, now: datetime, finish_after_hours: float | None = None) -> Journal:
    """The journal once the active procedure (forward or rollback) ran every step."""
    active = journal.active
    assert active is not None
    outcome = "rolled back" if active.mode == "rollback" else "completed"
    pending = dict(journal.pending)
    if active.procedure == "hmac" and active.mode == "forward":
        secret = active.secrets[0]
        pending[secret] = PendingPhase2(
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
        outcome = "phase 1 completed"
    if active.procedure == "hmac-finish" and active.mode == "forward":
        pending.pop(active.secrets[0], None)
    record = HistoryRecord(
        id=active.id,
        procedure=active.procedure,
        secrets=active.secrets,
        outcome=outcome,
        started_at=active.started_at,
        finished_at=iso(now),
        versions=dict(active.new_versions),
        key_id=active.key_id,
        reason=active.reason or None,
    )
    history = [*journal.history, record][-HISTORY_KEPT:]
    return replace(journal, active=None, pending=pending, history=history)


def phase2_allowed_at(pending: PendingPhase2, min_age_hours: float | None = None) -> datetime:
    """When phase 2 of `pending` is allowed (see PendingPhase2.allowed_at)."""
    return pending.allowed_at(min_age_hours)


def new_key_id(version: int, token: str) -> str:
    """A key id is new on every rotation: the version plus a random token (not secret)."""
    return f"k{version}-{token}"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- the journal against a changed manifest (class 9.5) -----------------------------------------


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
    out = [consumer.env]
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
        if old.env != new.env:
            out.append(f"{service}'s env var changed from {old.env} to {new.env}")
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


def spec_to_dict(spec: SecretSpec) -> dict[str, Any]:
    """A manifest entry as the journal keeps it (never a value: the manifest holds none)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "kind": spec.kind,
        "consumers": [{"service": c.service, "env": c.env, "role": c.role} for c in spec.consumers],
        "min_length": spec.min_length,
        "max_length": spec.max_length,
        "bytes": spec.bytes,
        "pattern": spec.pattern,
        "generate": spec.generate,
        "rotation": spec.rotation,
        "verify_log": spec.verify_log,
        "group": spec.group,
        "secondary_env": spec.secondary_env,
        "key_id_env": spec.key_id_env,
        "finish_after_hours": spec.finish_after_hours,
        "provision": None
        if spec.provision is None
        else {
            "kind": spec.provision.kind,
            "service": spec.provision.service,
            "role": spec.provision.role,
        },
    }


def spec_from_dict(d: Mapping[str, Any]) -> SecretSpec:
    """The inverse of spec_to_dict. Names and env vars are checked as the manifest checks them
    (they reach the overlay): ValueError on anything else."""
    consumers = tuple(
        Consumer(
            service=_checked(c["service"], NAME_RE),
            env=_checked(c["env"], ENV_RE),
            role=c.get("role") if c.get("role") in ("signer", "listener") else None,
        )
        for c in d["consumers"]
    )
    raw = d.get("provision")
    provision = None
    if raw:
        provision = ProvisionSpec(
            kind=str(raw["kind"]), service=_checked(raw["service"], NAME_RE), role=raw.get("role")
        )
    optional_env = {
        key: None if d.get(key) is None else _checked(d[key], ENV_RE)
        for key in ("secondary_env", "key_id_env")
    }
    return SecretSpec(
        name=_checked(d["name"], NAME_RE),
        kind=str(d["kind"]),
        consumers=consumers,
        description=str(d.get("description") or ""),
        min_length=int(d.get("min_length") or 1),
        max_length=int(d.get("max_length") or 4096),
        bytes=None if d.get("bytes") is None else int(d["bytes"]),
        pattern=d.get("pattern"),
        generate=bool(d.get("generate")),
        rotation=str(d["rotation"]),
        verify_log=d.get("verify_log"),
        group=d.get("group"),
        finish_after_hours=float(d.get("finish_after_hours", 24.0)),
        provision=provision,
        **optional_env,
    )


def _checked(value: Any, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError("a name in the journal is not one the manifest allows")
    return value


# --- (de)serialisation ---------------------------------------------------------------------------


def assignment_to_dict(a: Assignment) -> dict[str, Any]:
    return {"version": a.version, "secondary": a.secondary, "key_id": a.key_id}


def assignment_from_dict(d: Mapping[str, Any]) -> Assignment:
    return Assignment(
        version=d.get("version"), secondary=d.get("secondary"), key_id=d.get("key_id")
    )


def assignments_to_dict(assignments: Assignments) -> dict[str, Any]:
    return {
        secret: {service: assignment_to_dict(a) for service, a in services.items()}
        for secret, services in assignments.items()
    }


def assignments_from_dict(d: Mapping[str, Any]) -> Assignments:
    return {
        secret: {service: assignment_from_dict(a) for service, a in (services or {}).items()}
        for secret, services in (d or {}).items()
    }


def step_to_dict(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"action": step.action}
    if isinstance(step, Repoint):
        out["changes"] = [
            {"service": c.service, "secret": c.secret, **assignment_to_dict(c.assignment)}
            for c in step.changes
        ]
        return out
    for key, value in step.__dict__.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def step_from_dict(d: Mapping[str, Any]) -> Step:
    kind = STEP_TYPES.get(str(d.get("action")))
    if kind is None:
        raise ValueError(f"unknown step action {d.get('action')!r}")
    if kind is Repoint:
        return Repoint(
            tuple(Change(c["service"], c["secret"], assignment_from_dict(c)) for c in d["changes"])
        )
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "action"}
    return kind(**fields)


def active_to_dict(a: Active) -> dict[str, Any]:
    return {
        "id": a.id,
        "procedure": a.procedure,
        "secrets": list(a.secrets),
        "mode": a.mode,
        "started_at": a.started_at,
        "done": a.done,
        "in_progress": a.in_progress,
        "steps": [step_to_dict(s) for s in a.steps],
        "initial": assignments_to_dict(a.initial),
        "new_versions": dict(a.new_versions),
        "key_id": a.key_id,
        "old_key_id": a.old_key_id,
        "group": a.group,
        "forward_steps": [step_to_dict(s) for s in a.forward_steps],
        "forward_reached": a.forward_reached,
        "reason": a.reason,
        "log": list(a.log),
        "specs": {name: spec_to_dict(spec) for name, spec in a.specs.items()},
    }


def active_from_dict(d: Mapping[str, Any]) -> Active:
    if d.get("procedure") not in PROCEDURES or d.get("mode") not in ("forward", "rollback"):
        raise ValueError("unknown procedure or mode")
    return Active(
        id=str(d["id"]),
        procedure=d["procedure"],
        secrets=tuple(d["secrets"]),
        mode=d["mode"],
        started_at=d["started_at"],
        done=int(d["done"]),
        in_progress=d.get("in_progress"),
        steps=tuple(step_from_dict(s) for s in d["steps"]),
        initial=assignments_from_dict(d["initial"]),
        new_versions={k: int(v) for k, v in (d.get("new_versions") or {}).items()},
        key_id=d.get("key_id"),
        old_key_id=d.get("old_key_id"),
        group=d.get("group"),
        forward_steps=tuple(step_from_dict(s) for s in d.get("forward_steps") or ()),
        forward_reached=int(d.get("forward_reached") or 0),
        reason=d.get("reason"),
        log=list(d.get("log") or []),
        specs={name: spec_from_dict(v) for name, v in (d.get("specs") or {}).items()},
    )


def journal_to_dict(j: Journal) -> dict[str, Any]:
    return {
        "format": 1,
        "assignments": assignments_to_dict(j.assignments),
        "last_version": dict(j.last_version),
        "active": active_to_dict(j.active) if j.active else None,
        "pending": {secret: pending_to_dict(p) for secret, p in j.pending.items()},
        "history": [history_to_dict(r) for r in j.history],
    }


def journal_from_dict(d: Mapping[str, Any]) -> Journal:
    """The inverse of journal_to_dict. KeyError, TypeError or ValueError on a document that
    is not one (the caller names the file and says what to do)."""
    return Journal(
        assignments=assignments_from_dict(d.get("assignments") or {}),
        last_version={k: int(v) for k, v in (d.get("last_version") or {}).items()},
        active=active_from_dict(d["active"]) if d.get("active") else None,
        pending={
            str(secret): pending_from_dict(p) for secret, p in (d.get("pending") or {}).items()
        },
        history=[history_from_dict(r) for r in d.get("history") or []],
    )


def pending_to_dict(p: PendingPhase2) -> dict[str, Any]:
    """A phase 1 awaiting phase 2 as the journal keeps it."""
    return {
        "id": p.id,
        "phase1_completed_at": p.phase1_completed_at,
        "finish_after_hours": p.finish_after_hours,
        "new_version": p.new_version,
        "written": list(p.written),
        "key_id": p.key_id,
        "old_key_id": p.old_key_id,
        "initial": assignments_to_dict(p.initial),
        "specs": {name: spec_to_dict(spec) for name, spec in p.specs.items()},
    }


def pending_from_dict(d: Mapping[str, Any]) -> PendingPhase2:
    """The inverse of pending_to_dict; `written` and `specs` may be missing (an older journal:
    then phase 1 wrote only the new version, and froze no entries). TypeError/KeyError/
    ValueError otherwise."""
    new_version = _int(d["new_version"])
    completed = _str(d["phase1_completed_at"])
    parse_iso(completed)  # ValueError now, not when status or --finish reads it
    return PendingPhase2(
        id=_str(d["id"]),
        phase1_completed_at=completed,
        finish_after_hours=_number(d["finish_after_hours"]),
        new_version=new_version,
        written=tuple(_int(v) for v in d.get("written", [new_version])),
        key_id=_opt_str(d.get("key_id")),
        old_key_id=_opt_str(d.get("old_key_id")),
        initial=assignments_from_dict(d["initial"]),
        specs={name: spec_from_dict(v) for name, v in (d.get("specs") or {}).items()},
    )


def history_to_dict(r: HistoryRecord) -> dict[str, Any]:
    """A finished procedure as the journal keeps it (`reason` only when there is one)."""
    out: dict[str, Any] = {
        "id": r.id,
        "procedure": r.procedure,
        "secrets": list(r.secrets),
        "outcome": r.outcome,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "versions": dict(r.versions),
        "key_id": r.key_id,
    }
    if r.reason:
        out["reason"] = r.reason
    return out


def history_from_dict(d: Mapping[str, Any]) -> HistoryRecord:
    """The inverse of history_to_dict. TypeError/KeyError on anything else."""
    if not isinstance(d, Mapping):
        raise TypeError("a history entry is not an object")
    return HistoryRecord(
        id=_str(d["id"]),
        procedure=_str(d["procedure"]),
        secrets=tuple(_str(s) for s in d["secrets"]),
        outcome=_str(d["outcome"]),
        started_at=_str(d["started_at"]),
        finished_at=_str(d["finished_at"]),
        versions={_str(k): _int(v) for k, v in (d.get("versions") or {}).items()},
        key_id=_opt_str(d.get("key_id")),
        reason=_opt_str(d.get("reason")),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def _number(value: Any) -> float:
    if type(value) not in (int, float):
        raise TypeError("not a number")
    return value
