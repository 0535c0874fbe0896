"""The rotation steps' effects on a real stack: files, overlay, compose, the engine.

Invariant 1 lives here: a version file is only ever created (never rewritten: an existing one is
kept, it was written by this very rotation before a crash); the base file is rewritten
(SyncBase) and a version file removed (RemoveVersions) only when no container at all — running
or stopped, of any project — bind-mounts it. Every write is atomic, 0600 (0640 + the secrets
group when the manifest names one). Values are read from and written to the secrets dir only,
and never appear in a note, an error, argv or env.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path

from titan_deploy.core import authguard
from titan_deploy.core.checks import expected_file_mode
from titan_deploy.core.containers import state_label
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.manifest_model import AuthGuard
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.postgres import (
    LoginUnknown,
    UnsupportedPassword,
    alter_role_sql,
    login,
    psql_argv,
    psql_error,
    scram_verifier,
)
from titan_deploy.core.rotation import (
    CheckLog,
    Journal,
    Probe,
    Provision,
    RemoveVersions,
    Repoint,
    SyncBase,
    Verify,
    WriteVersion,
    effective_manifest,
    versions_in_use,
)
from titan_deploy.core.secretvalue import generate
from titan_deploy.core.versions import file_name
from titan_deploy.errors import TitanError
from titan_deploy.io import compose, composerun, fs
from titan_deploy.io import engine as engine_io
from titan_deploy.io import journal as journal_io
from titan_deploy.ops import configs, stack
from titan_deploy.ops.backup import keep_copy
from titan_deploy.ops.render import current_plan, run_render
from titan_deploy.ops.rotate import guard as guard_io
from titan_deploy.ops.rotate import reload
from titan_deploy.ops.rotate.guard import scrape_argv  # noqa: F401 (its old home)
from titan_deploy.ops.rotate.overlap import overlap_render
from titan_deploy.ops.rotate.proofs import await_log, run_probe
from titan_deploy.ops.rotate.runner import NothingDeployed, StepFailed
from titan_deploy.ops.verify import select_active, verify_report
from titan_deploy.project import Project

HEALTH_POLL = 0.25
"""Seconds between two reads of the services' state while a verify step waits for health: a
poll only reads state (one list + inspect), so a short one costs little and each step ends at
most this long after the last container turns healthy (it was 1 s; issue 15)."""


class StackEffects:
    """The steps' effects on a real stack. Constructing one does no I/O: the manifest, the
    engine, the compose project name and the compose command are resolved on first use, or all
    at once by `connect()` (which a run calls before it journals anything: fail early)."""

    def __init__(
        self,
        project: Project,
        *,
        timeout: int = 180,
        stop_timeout: int | None = None,
        log_timeout: float = 60.0,
        inputs: Mapping[str, bytes] | None = None,
        mid_write: Callable[[Path], None] | None = None,
        engine: engine_io.Engine | None = None,
        progress: Callable[[str], None] = lambda _: None,
        compose_for: compose.ComposeFactory | None = None,
    ) -> None:
        self.project = project
        # validates each re-rendered overlay as `render` does (default: the installed Compose
        # v2 with the project's --profile/--env-file): a rejected overlay fails the step
        self.compose_for = compose_for or stack.real(project).compose
        self.timeout = timeout  # seconds a recreated service gets to be healthy
        self.stop_timeout = stop_timeout  # seconds a replaced container gets to stop
        self.log_timeout = log_timeout  # seconds a consumer gets to log the proof
        self.inputs = dict(inputs or {})
        self.mid_write = mid_write
        self._engine = engine
        self.progress = progress
        self.healthy_since: float | None = None  # time.monotonic() a verify saw all healthy
        self.marks: dict[str, int] = {}  # service -> when it was reloaded (unix s; reload.py)

    def connect(self) -> StackEffects:
        """Resolve everything that needs the disk, the engine or compose now; returns self.

        Raises ConfigError (manifest, compose files) or EngineUnreachable (exit 3)."""
        _ = (self.manifest, self.engine, self.name, self.command)
        return self

    @cached_property
    def manifest(self) -> Manifest:
        return self.project.manifest

    @cached_property
    def inactive(self) -> dict[str, tuple[str, ...]]:
        """Consumers in a profile this run does not enable -> their profiles (as verify skips
        them): nothing runs there to recreate or prove; they start on the new version."""
        return select_active(self.project, self.compose_for)[1]

    @cached_property
    def gid(self) -> int | None:
        return self.manifest.secrets_gid

    @cached_property
    def engine(self) -> engine_io.Engine:
        return self._engine or engine_io.connect()

    @cached_property
    def name(self) -> str:
        """The compose project name."""
        return self.project.name

    @cached_property
    def command(self) -> compose.ComposeCommand:
        return compose.command_for(
            self.project.project_dir,
            self.project.all_compose_files(),
            self.name,
            **self.project.compose_options,
        )

    def spec(self, secret: str, journal: Journal | None = None) -> SecretSpec:
        """The secret's entry as the rotation in flight froze it (else the manifest's)."""
        journal = journal if journal is not None else journal_io.load(self.project)
        return effective_manifest(self.manifest, journal).secrets[secret]

    # --- files ----------------------------------------------------------------------------------

    def path(self, secret: str, version: int | None) -> Path:
        """The file of `version` of `secret` (None: its base file; beside a `file:`)."""
        spec = self.manifest.secrets.get(secret)
        return self.project.secrets_dir / file_name(spec.file_name if spec else secret, version)

    def write_version(self, step: WriteVersion, journal: Journal) -> str:
        target = self.path(step.secret, step.version)
        if step.source == "render":  # a config: from its inputs as this rotation sets them
            self.inputs[step.secret] = configs.rendered_version(self.project, step.secret, journal)
        elif step.source == "overlap":  # rotate nats: old and new credential (overlap.py)
            self.inputs[step.secret] = overlap_render(self.project, step.secret, journal)
        if target.exists():
            supplied = self.inputs.get(step.secret) if step.source != "generate" else None
            if supplied is not None and self.read(target) != supplied:
                raise StepFailed(f"{target.name} exists and holds another value; not touched")
            return f"{target.name} already written (kept as is)"
        if step.source == "generate":
            data = generate(self.spec(step.secret, journal))
        elif step.source == "copy":
            source = self.path(step.secret, step.copy_of)
            if not source.is_file():
                raise StepFailed(f"{source.name} is missing: nothing to pin")
            data = self.read(source)
        else:
            if step.secret not in self.inputs:
                raise StepFailed(
                    f"the new value of {step.secret} was never saved (the rotation was "
                    "interrupted before it was written): start the rotation again"
                )
            data = self.inputs[step.secret]
        self.write(target, data)
        return f"wrote {target.name} ({oct(expected_file_mode(self.gid))[2:]})"

    def read(self, path: Path) -> bytes:
        """A secret file, bounded (Docker's limit) and a regular file only (issue 9.4)."""
        try:
            return fs.read_secret(path)
        except OSError as exc:  # missing, too large, not a plain file
            raise StepFailed(f"cannot read {path.name}: {exc.strerror or exc}") from None

    def write(self, path: Path, data: bytes) -> None:
        """Atomic, 0600/0640, confined to the project, never through a symlink (issue 9.2)."""
        fs.atomic_write(
            path,
            data,
            expected_file_mode(self.gid),
            self.gid,
            before_replace=self.mid_write,
            root=self.project.secrets_root,
        )

    def sync_base(self, step: SyncBase) -> str:
        base = self.path(step.secret, None)
        source = self.path(step.secret, step.version)
        if not source.is_file():
            return f"{source.name} is missing; {base.name} left as is"
        holders = self.engine.mounts_of([str(base)]).get(str(base))
        if holders:
            return f"{base.name} left as is: still mounted by {', '.join(sorted(holders))}"
        data = self.read(source)
        if base.is_file() and self.read(base) == data:
            return f"{base.name} already holds the current value"
        self.write(base, data)
        return f"{base.name} now holds the value of {source.name}"

    def remove_versions(self, step: RemoveVersions, journal: Journal) -> str:
        in_use = versions_in_use(journal.assignments, step.secret)
        paths = {v: self.path(step.secret, v) for v in step.versions}
        mounted = self.engine.mounts_of([str(p) for p in paths.values()])
        removed, kept = [], []
        for version, path in sorted(paths.items()):
            if not path.exists():
                continue
            holders = mounted.get(str(path))
            if version in in_use or holders:
                why = ", ".join(sorted(holders)) if holders else "the overlay"
                kept.append(f"{path.name} (mounted by {why})")
                continue
            if not self._keep_copy(step.secret, version, path, kept):
                continue
            fs.unlink(path, root=self.project.secrets_root)
            removed.append(path.name)
        if removed:
            fs.fsync_dir(self.project.secrets_dir)
        parts = []
        if removed:
            parts.append("removed " + ", ".join(removed))
        if kept:
            parts.append("kept " + ", ".join(kept))
        return "; ".join(parts) or "nothing to remove"

    def _keep_copy(self, secret: str, version: int, path: Path, kept: list[str]) -> bool:
        """With `backup.recipients` in the manifest, an encrypted copy of a version before it is
        removed (README "Break-glass copies"); False (and the file kept) if that fails."""
        if not self.manifest.backup_recipients:
            return True
        try:
            keep_copy(self.project, secret, version, self.read(path), source=path)
        except (TitanError, OSError, StepFailed):
            kept.append(f"{path.name} (its break-glass copy could not be written)")
            return False
        return True

    # --- the stack ------------------------------------------------------------------------------

    def repoint(self, step: Repoint, journal: Journal) -> str:
        # the journal (saved by the runner) already holds the targets; Compose validates the
        # merged result before the overlay is replaced (ComposeRejected: the step fails, the
        # rotation rolls back, the overlay on disk is the one the stack runs)
        run_render(self.project, compose_for=self.compose_for)  # + live files (livefiles.py)
        manifest = effective_manifest(self.manifest, journal)
        live = reload.live_services(manifest, step)
        deployed = [s for s in step.services if self.engine.containers(self.name, s)]
        absent = [s for s in step.services if s not in deployed]
        notes = [reload.run(self, manifest, step, s) for s in live if s in deployed]
        deployed = [s for s in deployed if s not in live]  # the rest: recreated
        if deployed:
            argv = self.command.up_no_deps(self.timeout, deployed, stop_timeout=self.stop_timeout)
            composerun.run(argv, what=f"recreate {', '.join(deployed)}", timeout=self.timeout + 120)
        note = f"recreated {', '.join(deployed)}" if deployed else "nothing to recreate"
        note += "".join(f"; reloaded {n}" for n in notes)
        if absent:
            note += f"; not deployed (will use the new version when started): {', '.join(absent)}"
        return note

    def verify(self, step: Verify) -> str:
        services = tuple(s for s in step.services if s not in self.inactive)
        if not services:
            profiles = sorted({p for s in step.services for p in self.inactive[s]})
            return (
                f"not active (profile {', '.join(profiles)}): {', '.join(step.services)} will "
                "start on the new version"
            )
        step = Verify(services=services)
        deadline = time.monotonic() + self.timeout
        self.healthy_since = None
        while True:
            waiting = self._unhealthy(step.services)
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"not healthy after {self.timeout}s: {', '.join(waiting)}")
            time.sleep(HEALTH_POLL)
        self.healthy_since = time.monotonic()  # the settle window runs from here (runner.py)
        plan = current_plan(self.project)
        wanted = tuple(s for s in plan.services if s.service in step.services)
        deployed = {s for s in step.services if self.engine.containers(self.name, s)}
        sub = OverlayPlan(
            services=tuple(s for s in wanted if s.service in deployed),
            files=plan.files,
            group_add=plan.group_add,
            manifest_name=plan.manifest_name,
            sources=plan.sources,
        )
        if not sub.services:  # nothing proved: never report a rotation verified on no container
            raise NothingDeployed(
                f"none of {', '.join(step.services)} is deployed in project {self.name}: nothing "
                "can prove the new version (deploy with `titan-deploy up`, or check -p)"
            )
        report = verify_report(self.project, self.engine, sub)
        if not report.ok:
            problems = "; ".join(f"{f.service}/{f.secret}: {f.message}" for f in report.errors[:3])
            raise StepFailed(f"verify failed: {problems}")
        return f"healthy and verified: {report.data.get('pairs')} (service, secret) pairs"

    def _unhealthy(self, services: tuple[str, ...]) -> list[str]:
        bad = []
        for service in services:
            for info in self.engine.containers(self.name, service):
                ok = info.status == "running" and not info.restarting
                ok = ok and info.health in (None, "healthy")
                if not ok:
                    bad.append(f"{info.name} ({state_label(info)})")
        return bad

    def provision(self, step: Provision) -> str:
        spec = self.spec(step.secret)
        if spec.provision is None:
            raise StepFailed(f"{step.secret} has no provision entry: cannot ALTER ROLE")
        containers = [
            c for c in self.engine.containers(self.name, step.service) if c.status == "running"
        ]
        if not containers:
            raise StepFailed(f"{step.service} is not running: cannot ALTER ROLE")
        holder = containers[0]
        try:
            role, database = login(
                spec.provision.role,
                holder.env,
                lambda path: self.engine.read_text(holder.id, path),
                self._configuration(step.service),
            )
        except LoginUnknown as exc:
            raise StepFailed(f"cannot tell the role to ALTER in {holder.name}: {exc}") from None
        value, shown = self.version_value(step.secret, step.version)
        try:
            verifier = scram_verifier(value.strip().decode("ascii"), os.urandom(16))
        except (UnicodeDecodeError, UnsupportedPassword):
            raise StepFailed(
                f"{shown} is not printable ASCII: cannot provision it safely"
            ) from None
        result = self.engine.exec(
            holder.id,
            psql_argv(role, database),
            stdin=alter_role_sql(role, verifier).encode(),
            timeout=60,
        )
        if result.exit_code != 0:
            said = psql_error(result.stderr)  # scrubbed by the runner before it is shown
            raise StepFailed(
                f"ALTER ROLE {role} in {step.service} failed (psql exit {result.exit_code}"
                f"{': ' + said if said else ''})"
            )
        return f"role {role} in {holder.name} now takes {shown}"

    def version_value(self, secret: str, version: int | None) -> tuple[bytes, str]:
        """The value of `version` of `secret` (None: the base) and how a note names it (its
        file name). StepFailed when it is missing."""
        source = self.path(secret, version)
        if not source.is_file():
            raise StepFailed(f"{source.name} is missing: nothing to provision")
        return self.read(source), source.name

    def _configuration(self, service: str) -> set[str]:
        """Container paths of `service`'s `sensitive: false` secrets (POSTGRES_USER_FILE's)."""
        return {
            consumer.container_path(spec.name)
            for spec in self.manifest.secrets.values()
            if not spec.sensitive and (consumer := spec.consumer(service)) is not None
        }

    def check_log(self, step: CheckLog) -> str:
        mark = self.marks.get(step.service)  # set by a reload: its proof is logged after it
        return await_log(self.engine, self.name, step, self.log_timeout, mark)

    def probe(self, step: Probe) -> str:
        # bounded like a log proof (--log-timeout): both wait for a consumer to show it works
        return run_probe(self.engine, self.name, step, self.log_timeout)

    # --- the guard ------------------------------------------------------------------------------

    def guard_snapshot(self) -> authguard.Snapshot | None:
        guard = self.manifest.auth_guard
        return None if guard is None else guard_io.snapshot(self.engine, self.name, guard)

    def traffic_snapshot(self) -> authguard.Snapshot | None:
        """The guard's `settle_on` counter in every container of its endpoints (None without
        one): what ends the settle window early (runner.settle)."""
        guard = self.manifest.auth_guard
        if guard is None or guard.settle_on is None:
            return None
        return guard_io.snapshot(
            self.engine, self.name, AuthGuard(guard.settle_on, 0, guard.endpoints)
        )
