"""A rotation's effects on Swarm (README "Several hosts"): the same plans, journal, runner and
rollback as on Compose (ops/rotate/effects.py); only repointing and proving differ.

Repoint: the journal already holds the new assignments; the compose overlay and the stack overlay
are rendered from it, the new version's object is created (named by its content, through the
API), and `docker stack deploy` rolls exactly the services whose spec changed — the step's
group — with Swarm's own update (order and parallelism from each service's update_config).
Verify: wait (bounded) until those services' updates completed and all their replicas run, then
verify every task of them on every node (ops/swarm_verify.py). The listeners-before-signers order
is the plan's; each group is converged and verified before the next one is touched.

Health waits, exec (`rotate db`'s ALTER ROLE, reload commands, probes), log proofs and the auth
guard read every task of the stack, on every node, each through the engine of the node it runs
on (io/swarm.SwarmEngine: the manifest's deploy.nodes, the very NodeEngines verify reaches tasks
with). A task on a node the tool cannot reach fails the step (NodeUnreachable; the rotation rolls
back): a worker's task that runs the old key or is unhealthy is never a silent pass.
"""

from __future__ import annotations

import time
from functools import cached_property

from titan_deploy.core.rotation import Journal, Repoint, Verify
from titan_deploy.errors import ConfigError
from titan_deploy.io import swarm as swarm_io
from titan_deploy.ops.render import run_render
from titan_deploy.ops.rotate.effects import HEALTH_POLL, StackEffects
from titan_deploy.ops.rotate.runner import NothingDeployed, StepFailed
from titan_deploy.ops.swarm_up import (
    check_updates,
    deploy,
    ensure_objects,
    pending_services,
    render_stack_overlay,
)
from titan_deploy.ops.swarm_verify import swarm_verify_report


class SwarmEffects(StackEffects):
    """StackEffects whose stack is a Swarm stack."""

    def connect(self) -> SwarmEffects:
        """Resolve the manifest, the engine (a swarm manager) and the stack name now.
        ConfigError (exit 2), NotAManager / EngineUnreachable (exit 3)."""
        _ = (self.manifest, self.engine, self.name)
        swarm = swarm_io.Swarm(self.engine)
        swarm.node_id()
        report = check_updates(self.project, swarm, self.compose_for)
        if not report.ok:  # refused before anything is journaled
            [first, *_rest] = report.errors
            raise ConfigError(f"rotation refused: {first.service}: {first.message}")
        return self

    @cached_property
    def engine(self) -> swarm_io.SwarmEngine:
        from titan_deploy.io import engine as engine_io

        base = self._engine or engine_io.connect()
        return swarm_io.SwarmEngine(base.client, self.manifest.deploy.endpoint)

    def repoint(self, step: Repoint, journal: Journal) -> str:
        run_render(self.project, compose_for=self.compose_for)
        values: dict[str, bytes] = {}
        report = render_stack_overlay(self.project, values, self.compose_for)
        if not report.ok:
            raise StepFailed(f"stack overlay: {report.summary}")
        made = ensure_objects(self.project, swarm_io.Swarm(self.engine), values)
        values.clear()
        deploy(self.project)
        created = made.data["created"]
        return f"stack deployed (rolling update of {', '.join(step.services)}); " + (
            f"created {', '.join(created)}" if created else "no new object"
        )

    def verify(self, step: Verify) -> str:
        swarm = swarm_io.Swarm(self.engine)
        deadline = time.monotonic() + self.timeout
        while True:
            waiting, failed = pending_services(self.project, swarm, step.services)
            if failed:
                raise StepFailed("; ".join(f"{f.service}: {f.message}" for f in failed))
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"not converged after {self.timeout}s: "
                    + ", ".join(f"{s} ({why})" for s, why in waiting.items())
                )
            time.sleep(HEALTH_POLL)
        self._wait_healthy(step.services, deadline)
        report = swarm_verify_report(self.project, self.engine)
        rows = [r for r in report.rows if r["service"] in step.services and r["containers"]]
        if not rows:
            raise NothingDeployed(
                f"none of {', '.join(step.services)} runs in stack {self.name}: nothing can "
                "prove the new version (deploy with `titan-deploy --swarm up`, or check -p)"
            )
        mine = [f for f in report.errors if f.service in step.services]
        if mine:
            problems = "; ".join(f"{f.service}/{f.secret}: {f.message}" for f in mine[:3])
            raise StepFailed(f"verify failed: {problems}")
        return f"converged, healthy and verified: {len(rows)} (service, secret) pairs"

    def _wait_healthy(self, services: tuple[str, ...], deadline: float) -> None:
        """Until every task container of `services`, on every node, runs healthy (the settle
        window starts then); StepFailed past `deadline` (time.monotonic())."""
        self.healthy_since = None
        while waiting := self._unhealthy(services):
            if time.monotonic() > deadline:
                raise StepFailed(f"not healthy after {self.timeout}s: {', '.join(waiting)}")
            time.sleep(HEALTH_POLL)
        self.healthy_since = time.monotonic()
