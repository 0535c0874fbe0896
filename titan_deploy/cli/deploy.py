"""The commands on the deployed stack (README "Commands"): `up`, `verify`, `status`, `down` and
`audit-logs`, thin typer functions registered on the app by cli/app.py. Each hands its op to the
boundary (`cli/boundary.execute`), Compose's op or Swarm's as `Project.swarm` decides (`--swarm`
or the manifest's deploy.engine)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from titan_deploy.cli import numbers
from titan_deploy.cli.boundary import execute

if TYPE_CHECKING:
    from titan_deploy.cli.output import Output
    from titan_deploy.core.findings import Report
    from titan_deploy.project import Project


def up(
    ctx: typer.Context,
    timeout: Annotated[
        int,
        typer.Option(
            "--timeout",
            help="Seconds to wait for every service to be healthy.",
            click_type=numbers.seconds(),
        ),
    ] = 300,
    build: Annotated[
        bool,
        typer.Option(
            "--build", help="Build the images of services with `build:` first (compose --build)."
        ),
    ] = False,
) -> None:
    """check-secrets -> render -> lint -> compose up -d --wait -> verify; stops at a failure."""
    from titan_deploy.ops import agent_stack, stack
    from titan_deploy.ops.up import run_up

    output: Output = ctx.obj.output

    def op(project: Project) -> Report:
        if project.swarm:
            from titan_deploy.ops.swarm_up import run_swarm_up

            _no_build_on_swarm(build)
            return run_swarm_up(
                project, stack.real(project), timeout=timeout, progress=output.progress
            )
        if agent_stack.uses_agent(project):  # README "Secrets managers": the agent path
            return agent_stack.run_agent_up(
                project, stack.real(project), timeout=timeout, progress=output.progress, build=build
            )
        return run_up(
            project, stack.real(project), timeout=timeout, progress=output.progress, build=build
        )

    execute(ctx, "up", op)


def _no_build_on_swarm(build: bool) -> None:
    if build:
        from titan_deploy.errors import UsageError

        raise UsageError("--build is not supported with --swarm: build the images on every node")


def verify(ctx: typer.Context) -> None:
    """Prove every secret is mounted, identical to the host file, readable and leaked nowhere."""
    from titan_deploy.ops import agent_stack, stack
    from titan_deploy.ops.verify import run_verify

    def op(project: Project) -> Report:
        if project.swarm:
            from titan_deploy.ops.swarm_verify import run_swarm_verify

            return run_swarm_verify(project, stack.real(project))
        if agent_stack.uses_agent(project):
            return agent_stack.run_agent_verify(project, stack.real(project))
        return run_verify(project, stack.real(project))

    execute(ctx, "verify", op)


def status(ctx: typer.Context) -> None:
    """Services, their state and health, and how many of their secrets verify."""
    from titan_deploy.ops import agent_stack, stack
    from titan_deploy.ops.status import run_status

    def op(project: Project) -> Report:
        if project.swarm:
            from titan_deploy.ops.swarm_verify import run_swarm_status

            return run_swarm_status(project, stack.real(project))
        if agent_stack.uses_agent(project):  # pins, backend versions (ops/agent_status.py)
            from titan_deploy.ops.agent_status import run_agent_status

            return run_agent_status(project, stack.real(project))
        return run_status(project, stack.real(project))

    execute(ctx, "status", op)


def down(
    ctx: typer.Context,
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also remove named volumes (DESTROYS the data).")
    ] = False,
) -> None:
    """Stop and remove the stack's containers and network (volumes kept unless --volumes)."""
    from titan_deploy.ops import agent_stack, stack
    from titan_deploy.ops.status import run_down

    def op(project: Project) -> Report:
        if project.swarm:
            from titan_deploy.ops.swarm_up import run_swarm_down

            return run_swarm_down(project, stack.real(project), volumes=volumes)
        if agent_stack.uses_agent(project):
            return agent_stack.run_agent_down(project, stack.real(project), volumes=volumes)
        return run_down(project, stack.real(project), volumes=volumes)

    execute(ctx, "down", op)


def audit_logs(
    ctx: typer.Context,
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", help="Audit this log file instead of the stack (repeatable)."),
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Only these services (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Logs since: 10m, 2h, 1d, epoch or ISO 8601.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Logs until: 10m, 2h, 1d, epoch or ISO 8601.")
    ] = None,
) -> None:
    """Search logs, container config and image history for any secret value, raw or encoded.

    Reports service, container, timestamp, line and encoding — never the value — and counts
    [MASKED] lines per service. Exit 1 when anything leaked.
    """
    from titan_deploy.ops import agent_stack, stack
    from titan_deploy.ops.audit import run_audit

    def op(project: Project) -> Report:
        if project.swarm and not file:
            from titan_deploy.ops.swarm_audit import run_swarm_audit

            return run_swarm_audit(
                project, stack.real(project), services=service, since=since, until=until
            )
        if agent_stack.uses_agent(project):  # the backend's values (ops/agent_audit.py)
            from titan_deploy.ops.agent_audit import run_agent_audit

            return run_agent_audit(
                project, stack.real(project), files=file, services=service, since=since, until=until
            )
        return run_audit(
            project, stack.real(project), files=file, services=service, since=since, until=until
        )

    execute(ctx, "audit-logs", op)
