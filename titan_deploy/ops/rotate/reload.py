"""Executed reloads (README "Reload and proofs"): a repointed consumer whose every change is of
a secret or config it reloads (`reload: {signal: ...}` / `{exec: [...]}`) is not recreated. The
overlay render already replaced its live file (ops/livefiles.py: a directory mount, so the
running container sees the new version), and here the reload is executed in each of its running
containers: the signal sent to the main process, or the command run inside (no shell; exit 0
required). The proof that follows (a CheckLog or Probe step of the plan) then judges only what
the process logged since the reload (`marks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from titan_deploy.core.livemount import reloads
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.manifest_model import Reload
from titan_deploy.core.rotation import Repoint
from titan_deploy.io import engine as engine_io
from titan_deploy.io.swarm import NodeUnreachable
from titan_deploy.ops.rotate.runner import StepFailed


def live_services(manifest: Manifest, step: Repoint) -> list[str]:
    """The services of `step` whose every change is of something they reload (not recreated)."""
    return [
        service
        for service in step.services
        if all(reloads(manifest, c.secret, service) for c in step.changes if c.service == service)
    ]


def how(manifest: Manifest, service: str, secrets: Iterable[str]) -> Reload:
    """The consumer's reload for these secrets (the first that is not a restart)."""
    for secret in secrets:
        consumer = manifest.secrets[secret].consumer(service)
        if consumer is not None and consumer.reload.how != "restart":
            return consumer.reload
    return Reload()


def execute(engine: engine_io.Engine, project: str, service: str, reload: Reload) -> str:
    """Run `reload` in every running container of `service`, each through the engine that
    runs it (`engine.kill`/`exec`: on Swarm, the engine of the task's node); returns a note.
    StepFailed when a container refuses the signal or the command exits non-zero (its output
    is never shown: it could quote the file); NodeUnreachable (Swarm) as it is raised."""
    running = [c for c in engine.containers(project, service) if c.status == "running"]
    if not running:
        return f"{service}: not running (takes the new version when started)"
    for info in running:
        if reload.how == "signal":
            try:
                engine.kill(info.id, reload.signal or "SIGHUP")  # the manifest's default
            except NodeUnreachable:
                raise
            except Exception as exc:  # the engine's refusal, a vanished container
                raise StepFailed(
                    f"{info.name}: cannot send {reload.signal}: {type(exc).__name__}"
                ) from None
            continue
        result = engine.exec(info.id, list(reload.command), timeout=60)
        if result.exit_code != 0:
            raise StepFailed(
                f"{info.name}: reload `{' '.join(reload.command)}` exited {result.exit_code}"
            )
    names = ", ".join(c.name for c in running)
    return f"{service}: {reload.describe()} in {names}"


def run(effects, manifest: Manifest, step: Repoint, service: str) -> str:
    """Reload `service` for the changes `step` makes to it, marking the time in
    `effects.marks` (a StackEffects: its engine, project name and marks)."""
    secrets = [c.secret for c in step.changes if c.service == service]
    effects.marks[service] = now_unix()  # its proof: what it logs since this reload
    return execute(effects.engine, effects.name, service, how(manifest, service, secrets))


def now_unix() -> int:
    """The reload's mark (whole seconds, as the engine's log `since` takes them; a second
    early, so a line logged in the same second is seen)."""
    return int(datetime.now(timezone.utc).timestamp()) - 1
