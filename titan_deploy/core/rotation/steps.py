"""Rotation steps as data: what one step of a plan does, how it reads, what it changes.

A plan (core/rotation/plan.py) is a tuple of these small frozen values. The executor
(ops/rotate/runner.py) runs them one at a time and journals after each; each is idempotent, so
one interrupted by a crash is simply run again. `action` names a step in the journal
(core/rotation/codec.py); `cleanup` marks the steps past a procedure's point of no return.

- WriteVersion   a NEW file `secrets/<name>.v<N>` (generated, copied from another version, or
                 the operator's input). Never an existing file: a mounted file is never changed.
- Repoint        set the assignments of one or more services (the overlay points them at other
                 versions), render the overlay, recreate exactly those services, wait healthy.
- Verify         the services' containers are healthy and mount what the overlay says (same hash
                 as the host file, readable, *_FILE env right).
- Provision      set the credential where it lives: ALTER ROLE in the running PostgreSQL.
- CheckLog       the manifest's verify_log pattern appears in the service's logs since its start.
- Probe          a command (the manifest's, an argv list) run inside each of the service's
                 containers exits 0: a secret's `probe` or a consumer's `proof: {probe: ...}`.
- SyncBase       cleanup: the base file `secrets/<name>` takes the current value (so
                 check-secrets and `init` see it); only when no container mounts the base file.
- RemoveVersions cleanup: delete superseded version files that no container mounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from titan_deploy.core.manifest_model import SecretSpec
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.versions import file_name

Assignments = dict[str, dict[str, Assignment]]  # secret -> service -> assignment
Files = Mapping[str, str]  # secret -> its file in the secrets dir (`file:`, else its name)


def spec_files(*specs: Mapping[str, SecretSpec]) -> dict[str, str]:
    """secret -> its file (SecretSpec.file_name) over these spec tables, later ones winning:
    what a step's `describe(files)` names (`db/password.txt.v2`, not `db_password.v2`)."""
    return {name: spec.file_name for table in specs for name, spec in table.items()}


def _file(files: Files | None, secret: str, version: int | None) -> str:
    """The file of `version` of `secret` (None: its base file), beside its `file:` if set."""
    return file_name((files or {}).get(secret, secret), version)


def current(
    assignments: Mapping[str, Mapping[str, Assignment]], secret: str, service: str
) -> Assignment:
    """The assignment of `secret` to `service`: the base file (Assignment()) when none is set."""
    return assignments.get(secret, {}).get(service, Assignment())


@dataclass(frozen=True)
class Change:
    """One service's new assignment of one secret."""

    service: str
    secret: str
    assignment: Assignment


@dataclass(frozen=True)
class WriteVersion:
    """Write the new file `<secret>.v<version>` (never an existing one)."""

    secret: str
    version: int
    source: str  # "generate" | "input" | "copy" | "render" (a config, from its inputs) | "overlap"
    copy_of: int | None = None  # source "copy": this version (None: the base file)
    action: ClassVar[str] = "write-version"
    cleanup: ClassVar[bool] = False

    def describe(self, files: Files | None = None) -> str:
        what = {
            "generate": "a new random value",
            "input": "the new value you supplied",
            "copy": f"a copy of {_file(files, self.secret, self.copy_of)} (pins the value in use)",
            "render": "the config rendered from its template and the new input value(s)",
            "overlap": "the config accepting the old and the new credential (rotate nats)",
        }[self.source]
        return f"write {_file(files, self.secret, self.version)}: {what}"


@dataclass(frozen=True)
class Repoint:
    """Set these assignments, render the overlay, recreate the services, wait healthy."""

    changes: tuple[Change, ...]
    action: ClassVar[str] = "repoint"
    cleanup: ClassVar[bool] = False

    @property
    def services(self) -> tuple[str, ...]:
        """The services it recreates, each once, in order."""
        return tuple(dict.fromkeys(c.service for c in self.changes))

    def describe(self, files: Files | None = None) -> str:
        by_target: dict[str, list[str]] = {}
        for service in self.services:
            mine = [c for c in self.changes if c.service == service]
            target = "; ".join(_describe_assignment(c) for c in mine)
            by_target.setdefault(target, []).append(service)
        parts = [f"{', '.join(services)} -> {target}" for target, services in by_target.items()]
        return "repoint " + " | ".join(parts) + "; recreate, wait healthy"


@dataclass(frozen=True)
class Verify:
    """The services are healthy and mount what the overlay says."""

    services: tuple[str, ...]
    action: ClassVar[str] = "verify"
    cleanup: ClassVar[bool] = False

    def describe(self, files: Files | None = None) -> str:
        return (
            f"verify {', '.join(self.services)}: healthy, each secret mounted as the overlay says"
        )


@dataclass(frozen=True)
class Provision:
    """Set the credential where it lives to `<secret>.v<version>` (None: the base file)."""

    secret: str
    version: int | None
    service: str
    action: ClassVar[str] = "provision"
    cleanup: ClassVar[bool] = False

    def describe(self, files: Files | None = None) -> str:
        return (
            f"ALTER ROLE in {self.service}: password := {_file(files, self.secret, self.version)} "
            "(SCRAM verifier on psql's stdin)"
        )


@dataclass(frozen=True)
class CheckLog:
    """`pattern` appears in the service's logs since its restart (`required`: else it fails)."""

    service: str
    pattern: str
    required: bool = True
    action: ClassVar[str] = "check-log"
    cleanup: ClassVar[bool] = False

    def describe(self, files: Files | None = None) -> str:
        soft = "" if self.required else " (report only)"
        return f"wait for /{self.pattern}/ in {self.service}'s logs since its restart{soft}"


@dataclass(frozen=True)
class Probe:
    """`command` run inside each of the service's containers exits 0 within the log timeout
    (`required`: else it fails and the rotation rolls back, as a missing log line does)."""

    service: str
    command: tuple[str, ...]
    required: bool = True
    action: ClassVar[str] = "probe"
    cleanup: ClassVar[bool] = False

    def describe(self, files: Files | None = None) -> str:
        soft = "" if self.required else " (report only)"
        return f"run `{' '.join(self.command)}` in {self.service}: must exit 0{soft}"


@dataclass(frozen=True)
class SyncBase:
    """Cleanup: the base file takes the value of `<secret>.v<version>`."""

    secret: str
    version: int
    action: ClassVar[str] = "sync-base"
    cleanup: ClassVar[bool] = True

    def describe(self, files: Files | None = None) -> str:
        return (
            f"copy {_file(files, self.secret, self.version)} to {_file(files, self.secret, None)} "
            "(only if no container mounts it)"
        )


@dataclass(frozen=True)
class RemoveVersions:
    """Cleanup: delete these superseded versions (only files no container mounts)."""

    secret: str
    versions: tuple[int, ...]
    action: ClassVar[str] = "remove-versions"
    cleanup: ClassVar[bool] = True

    def describe(self, files: Files | None = None) -> str:
        names = ", ".join(_file(files, self.secret, v) for v in self.versions) or "nothing"
        return f"remove superseded {names} (only files no container mounts)"


Step = WriteVersion | Repoint | Verify | Provision | CheckLog | Probe | SyncBase | RemoveVersions
STEP_TYPES: dict[str, type] = {
    t.action: t
    for t in (WriteVersion, Repoint, Verify, Provision, CheckLog, Probe, SyncBase, RemoveVersions)
}


def _describe_assignment(change: Change) -> str:
    a = change.assignment
    text = f"{change.secret} {describe_version(a.version)}"
    if a.secondary is not None:
        text += f" + previous {describe_version(a.secondary)}"
    if a.key_id:
        text += f", key id {a.key_id}"
    return text


def describe_version(version: int | None) -> str:
    """A version as a plan or `rotate status` names it: "v3", or "base" for the base file."""
    return "base" if version is None else f"v{version}"


def apply_step(assignments: Assignments, step: Step) -> Assignments:
    """The assignments once `step` is applied (only Repoint changes them)."""
    if not isinstance(step, Repoint):
        return assignments
    out = {secret: dict(services) for secret, services in assignments.items()}
    for change in step.changes:
        out.setdefault(change.secret, {})[change.service] = change.assignment
    return out


def apply_steps(assignments: Assignments, steps: Iterable[Step]) -> Assignments:
    """The assignments once every step of `steps` is applied, in order."""
    for step in steps:
        assignments = apply_step(assignments, step)
    return assignments
