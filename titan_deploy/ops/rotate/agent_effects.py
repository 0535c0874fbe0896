"""A rotation's effects on the agent path (README "Secrets managers"): the same plans, journal,
runner, resume and rollback as on Compose (ops/rotate/effects.py); the versions live in the
backend and the files are rendered by the agent sidecar (OpenBao Agent, or titan-deploy's AWS
Secrets Manager renderer: core/agent_aws.py; its versions are VersionIds).

- WriteVersion: the new value becomes a new KV version of the secret's entry (never a file on
  this host), and the rotation version is pinned to it (io/backendpins.py); a version pinned
  already (a resume) is kept. A `copy` of a version pins the same KV version: no new write.
- Repoint: the journal holds the new assignments; the agent's files are rendered from them
  (each file pinned to its KV version), the agent is recreated (it reads its configuration at
  start), every file of the step's services is awaited in the agent's volumes with the digest
  of its KV version, then exactly the step's services are recreated: they read the new files;
  a consumer that reloads (`reload: {signal|exec}`) already sees its new file in its volume
  and is reloaded instead (ops/rotate/reload.py), as on the local path.
  The procedure's order is the plan's: HMAC listeners get primary + secondary (two KV versions)
  and are verified before any signer moves.
- Verify: healthy, then verify against the backend's digests (ops/agent_stack.py).
- SyncBase / RemoveVersions: the base pin moves to the current version; superseded pins go
  (the KV versions stay in the entry's history).
- Provision (`rotate db`'s ALTER ROLE): the value of the pinned KV version, read into memory.
- `rotate nats`' overlap version of the server's config: the KV version the server holds
  merged with a render from the new inputs (`_overlap`), written as a new KV version.
"""

from __future__ import annotations

import hashlib
import os
import time
from functools import cached_property

from titan_deploy.core.agent import (
    BASE,
    DEFAULT_SERVICE,
    kv_version,
    pin_key,
    pin_value,
    rendered_files,
)
from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.redact import remember
from titan_deploy.core.rotation import (
    Journal,
    RemoveVersions,
    Repoint,
    SyncBase,
    Verify,
    WriteVersion,
    effective_manifest,
    versions_in_use,
)
from titan_deploy.core.secretvalue import generate
from titan_deploy.io import backendpins, compose, composerun
from titan_deploy.ops.rotate import reload
from titan_deploy.ops.rotate.effects import HEALTH_POLL, StackEffects
from titan_deploy.ops.rotate.runner import NothingDeployed, StepFailed

AGENT_RENDER_TIMEOUT = 120  # seconds the recreated agent gets to render the step's files


class AgentEffects(StackEffects):
    """StackEffects whose versions are KV versions and whose files the agent renders."""

    def connect(self) -> AgentEffects:
        """Resolve the manifest, the engine, the compose files and the backend now (ConfigError
        exit 2, EngineUnreachable / RuntimeFailure exit 3)."""
        _ = (self.manifest, self.engine, self.name, self.command, self.backend)
        rendered_files(self.manifest)  # every target under /run/secrets
        return self

    @cached_property
    def backend(self) -> SecretBackend:
        from titan_deploy.ops.agent_stack import connect

        return connect(self.project)

    @cached_property
    def command(self) -> compose.ComposeCommand:
        from titan_deploy.ops.agent_stack import agent_compose_files

        return compose.command_for(
            self.project.project_dir,
            agent_compose_files(self.project),
            self.name,
            **self.project.compose_options,
        )

    # --- versions -------------------------------------------------------------------------------

    def _render_config(self, name: str, journal: Journal) -> bytes:
        """A rotation's new version of config `name`: each input rotated by the rotation in
        flight at the KV version its new version is pinned to, every other input at its base
        pin (what the consumers hold), else its latest. StepFailed (scrubbed) when it cannot
        be rendered."""
        from titan_deploy.core.configs import TemplateProblem
        from titan_deploy.core.rotation.manifestchange import effective_manifest
        from titan_deploy.errors import ConfigError
        from titan_deploy.ops.agent_configs import NoInput, render_pinned

        spec = effective_manifest(self.manifest, journal).secrets[name]
        pins = backendpins.load(self.project)
        new = journal.active.new_versions if journal.active is not None else {}
        versions = {i: kv_version(pins, i, new.get(i)) for i in spec.inputs}
        try:
            return render_pinned(self.project, self.backend, spec, versions)
        except TemplateProblem as exc:
            raise StepFailed(f"config {name}: {exc.message}") from None
        except (NoInput, ConfigError) as exc:
            raise StepFailed(str(exc)) from None

    def _overlap(self, name: str, journal: Journal) -> bytes:
        """`rotate nats`' overlap version of config `name`: the KV version its server holds
        (the version the rotation started from, through its pin) merged with a fresh render
        from the inputs' new pinned versions, so the server accepts the old AND the new
        credential (ops/rotate/overlap.py on the local path). StepFailed (no value in it)."""
        from titan_deploy.core.rotation.procedures.nats import merge_users
        from titan_deploy.core.rotation.steps import current
        from titan_deploy.ops.rotate.overlap import NO_OVERLAP

        server = self.manifest.secrets[name].consumers[0].service
        initial = journal.active.initial if journal.active is not None else {}
        pinned = kv_version(
            backendpins.load(self.project), name, current(initial, name, server).version
        )
        old = self.backend.read_version(name, "" if pinned is None else str(pinned))
        if old is None:
            raise StepFailed(f"{self.backend.config.location(name)}: no version {pinned} to merge")
        new = self._render_config(name, journal)
        if os.environ.get(NO_OVERLAP) == "1":  # the test hook of overlap.py
            return new
        try:
            return merge_users(old.value, new)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StepFailed(f"config {name}: {exc}") from None

    def write_version(self, step: WriteVersion, journal: Journal) -> str:
        pins = backendpins.load(self.project)
        where = self.backend.config.location(step.secret)
        done = kv_version(pins, step.secret, step.version)
        if done is not None:
            supplied = self.inputs.get(step.secret) if step.source == "input" else None
            if supplied is not None:
                stored = self.backend.read_version(step.secret, str(done))
                if stored is None or stored.value != supplied:
                    raise StepFailed(f"{where} version {done} holds another value; not touched")
            return f"version {step.version} already written ({where} version {done})"
        if step.source == "copy":
            source = kv_version(pins, step.secret, step.copy_of)
            if source is None:
                raise StepFailed(
                    f"{step.secret}: the version its consumers hold is not pinned: run "
                    "`titan-deploy up` (it pins what the backend holds) first"
                )
            backendpins.pin(self.project, step.secret, pin_key(step.version), source, self.backend)
            return f"version {step.version} pinned to {where} version {source} (no new write)"
        if step.source == "generate":
            data = generate(self.spec(step.secret, journal))
            remember([data])
        elif step.source == "render":  # a config's derived entry (ops/agent_configs.py)
            data = self._render_config(step.secret, journal)
        elif step.source == "overlap":  # rotate nats: its config holds old + new credentials
            data = self._overlap(step.secret, journal)
        elif step.secret in self.inputs:
            data = self.inputs[step.secret]
        else:
            raise StepFailed(
                f"the new value of {step.secret} was never saved (the rotation was "
                "interrupted before it was written): start the rotation again"
            )
        new = self.backend.write(step.secret, data, self.backend.read(step.secret))
        pinned = pin_value(new)
        if pinned is None:
            raise StepFailed(f"{where}: the backend gave no version for the write")
        backendpins.pin(self.project, step.secret, pin_key(step.version), pinned, self.backend)
        return f"wrote {where} version {new} (rotation version {step.version})"

    def sync_base(self, step: SyncBase) -> str:
        pins = backendpins.load(self.project)
        current = kv_version(pins, step.secret, step.version)
        if current is None:
            return f"version {step.version} is not pinned; the base pin left as is"
        backendpins.pin(self.project, step.secret, BASE, current, self.backend)
        return f"base of {step.secret} pinned to KV version {current}"

    def remove_versions(self, step: RemoveVersions, journal: Journal) -> str:
        in_use = versions_in_use(journal.assignments, step.secret)
        pins = backendpins.load(self.project)
        mine: dict[str, int | str] = pins.setdefault(step.secret, {})
        dropped = [v for v in step.versions if v not in in_use and str(v) in mine]
        # before the pins go (a crash in between re-runs this step with them)
        restored = self._restore_current(step.secret, mine, [mine[str(v)] for v in dropped])
        for version in dropped:
            del mine[str(version)]
        backendpins.save(self.project, pins, self.backend)
        kept = [str(v) for v in step.versions if v in in_use]
        note = (
            f"unpinned versions {', '.join(map(str, dropped))}" if dropped else "nothing to unpin"
        )
        return note + restored + (f"; kept {', '.join(kept)} (in use)" if kept else "")

    def _restore_current(self, secret: str, mine: dict[str, int | str], gone: list) -> str:
        """A rollback unpins the versions it wrote: where the backend can (AWS Secrets Manager:
        `restore_current`), its current version moves back from one of them to the base pin, so
        `up` does not deploy the aborted value. The note ("" when nothing moved)."""
        restore = getattr(self.backend, "restore_current", None)
        base = mine.get(BASE)
        if restore is None or base is None or not gone:
            return ""
        if not restore(secret, str(base), {str(v) for v in gone}):
            return ""
        return f"; {self.backend.config.location(secret)}'s current version moved back to {base}"

    def version_value(self, secret: str, version: int | None) -> tuple[bytes, str]:
        """The pinned KV version's value (in memory; `rotate db`'s ALTER ROLE) and its name."""
        pinned = kv_version(backendpins.load(self.project), secret, version)
        where = self.backend.config.location(secret)
        stored = self.backend.read_version(secret, str(pinned) if pinned else "")
        if stored is None:
            raise StepFailed(f"{where} has no version {pinned}: nothing to provision")
        return stored.value, f"{where} version {stored.version}"

    # --- the stack ------------------------------------------------------------------------------

    def repoint(self, step: Repoint, journal: Journal) -> str:
        from titan_deploy.ops.render_agent import agent_plan, run_render_agent

        run_render_agent(self.project)
        agent_timeout = min(self.timeout, AGENT_RENDER_TIMEOUT)
        argv = self.command.up_no_deps(agent_timeout, [DEFAULT_SERVICE], force=True)
        composerun.run(argv, what="recreate the secrets agent", timeout=agent_timeout + 120)
        plan = agent_plan(self.project)
        waited = self._await_rendered(plan, step.services, agent_timeout)
        deployed = [s for s in step.services if self.engine.containers(self.name, s)]
        absent = [s for s in step.services if s not in deployed]
        # a consumer that reloads sees the new file in its volume at once: reloaded, not
        # recreated (ops/rotate/reload.py; its proof is judged since the reload)
        manifest = effective_manifest(self.manifest, journal)
        live = [s for s in reload.live_services(manifest, step) if s in deployed]
        reloaded = [reload.run(self, manifest, step, s) for s in live]
        deployed = [s for s in deployed if s not in live]
        if deployed:
            argv = self.command.up_no_deps(
                self.timeout, deployed, stop_timeout=self.stop_timeout, force=True
            )
            composerun.run(argv, what=f"recreate {', '.join(deployed)}", timeout=self.timeout + 120)
        removed = self._remove_stale(plan)  # after the consumers that named them were replaced
        note = f"agent rendered in {waited:.1f}s; "
        if removed:
            note += f"removed {', '.join(removed)} (no longer rendered); "
        note += f"recreated {', '.join(deployed)}" if deployed else "nothing to recreate"
        note += "".join(f"; reloaded {n}" for n in reloaded)
        if absent:
            note += f"; not deployed (will use the new version when started): {', '.join(absent)}"
        return note

    def _await_rendered(self, plan: OverlayPlan, services: tuple[str, ...], timeout: int) -> float:
        """Seconds until every file of `services` in the agent's volumes has the digest of its
        pinned KV version (read in the agent container); StepFailed after `timeout`."""
        pins = backendpins.load(self.project)
        wanted: dict[str, str] = {}
        for item in rendered_files(self.manifest, plan):
            if item.service not in services:
                continue
            pinned = kv_version(pins, item.secret, item.version)
            stored = self.backend.read_version(item.secret, str(pinned) if pinned else "")
            if stored is None:
                raise StepFailed(f"{self.backend.config.location(item.secret)}: no such version")
            wanted[item.agent_path] = hashlib.sha256(stored.value).hexdigest()
        started = time.monotonic()
        deadline = started + timeout
        while True:
            agents = [
                c
                for c in self.engine.containers(self.name, DEFAULT_SERVICE)
                if c.status == "running"
            ]
            if agents:
                views = self.engine.probe(agents[:1], {agents[0].id: list(wanted)})
                files = views[agents[0].id].files
                if all(files.get(p) and files[p].sha256 == d for p, d in wanted.items()):
                    return time.monotonic() - started
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"the secrets agent did not render the new files of {', '.join(services)} "
                    f"within {timeout}s (its logs: docker compose logs {DEFAULT_SERVICE}; its "
                    "configuration: the file `titan-deploy render-agent` wrote)"
                )
            time.sleep(HEALTH_POLL)

    def _remove_stale(self, plan: OverlayPlan) -> list[str]:
        """Remove from the agent's volumes the files the plan no longer renders (an HMAC
        listener's previous key after phase 2 or an abort): the agent never deletes a file whose
        template is gone. Names only in the note, e.g. `execution/hmac_key.previous`."""
        from titan_deploy.core.agent import OUT
        from titan_deploy.core.versions import secondary_target

        rendered = {f"{f.service}/{f.name}" for f in rendered_files(self.manifest, plan)}
        possible = {
            f"{consumer.service}/{secondary_target(spec.name)}"
            for spec in self.manifest.secrets.values()
            if spec.secondary_env
            for consumer in spec.consumers
            if consumer.role == "listener"
        }
        stale = sorted(possible - rendered)
        agents = [
            c for c in self.engine.containers(self.name, DEFAULT_SERVICE) if c.status == "running"
        ]
        if not stale or not agents:
            return []
        paths = {name: f"{OUT}/{name}" for name in stale}
        present = self.engine.probe(agents[:1], {agents[0].id: list(paths.values())})
        files = present[agents[0].id].files
        stale = [name for name in stale if files.get(paths[name])]  # the note names real ones
        if not stale:
            return []
        argv = ["rm", "-f", *(paths[name] for name in stale)]
        result = self.engine.exec(agents[0].id, argv, timeout=30)
        if result.exit_code != 0:
            raise StepFailed(f"could not remove {', '.join(stale)} from the agent's volumes")
        return stale

    def verify(self, step: Verify) -> str:
        from titan_deploy.ops.agent_stack import agent_verify_report
        from titan_deploy.ops.render import current_plan

        deadline = time.monotonic() + self.timeout
        while waiting := self._unhealthy(step.services):
            if time.monotonic() > deadline:
                raise StepFailed(f"not healthy after {self.timeout}s: {', '.join(waiting)}")
            time.sleep(HEALTH_POLL)
        plan = current_plan(self.project)
        deployed = {s for s in step.services if self.engine.containers(self.name, s)}
        sub = OverlayPlan(
            services=tuple(s for s in plan.services if s.service in deployed),
            files=plan.files,
            group_add=plan.group_add,
            manifest_name=plan.manifest_name,
            sources=plan.sources,
        )
        if not sub.services:
            raise NothingDeployed(
                f"none of {', '.join(step.services)} is deployed in project {self.name}: nothing "
                "can prove the new version (deploy with `titan-deploy up`, or check -p)"
            )
        report = agent_verify_report(self.project, self.engine, self.backend, sub)
        if not report.ok:
            problems = "; ".join(f"{f.service}/{f.secret}: {f.message}" for f in report.errors[:3])
            raise StepFailed(f"verify failed: {problems}")
        return f"healthy and verified against the backend: {report.data.get('pairs')} pairs"
