"""The secrets-manager commands (README "Secrets managers"): `push` and `pull`, thin typer
functions registered on the app by cli/app.py; each hands its op to the boundary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from titan_deploy.cli.boundary import execute

if TYPE_CHECKING:
    from titan_deploy.core.findings import Report
    from titan_deploy.project import Project


def push(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
) -> None:
    """Copy every secret's current value into the manifest's backend (OpenBao/Vault KV v2 or
    AWS Secrets Manager): a new version where it differs, nothing where it is unchanged.
    A value check-secrets rejects is not pushed. Exit 1 missing or rejected values, 2 no
    backend or a bad credential file, 3 the backend unreachable or refusing."""
    from titan_deploy.ops.push import run_push

    execute(ctx, "push", lambda project: run_push(project, dry_run=dry_run))


def pull(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a local file that holds another value."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
) -> None:
    """Break-glass: write the backend's current values into the secrets dir (atomically, with
    the secrets dir's modes); a local file with another value is left alone without --force.
    Exit 1 a secret absent from the backend or differing locally, 2 no backend, 3 the backend
    unreachable or refusing."""
    from titan_deploy.ops.pull import run_pull

    execute(ctx, "pull", lambda project: run_pull(project, force=force, dry_run=dry_run))


def check_backend(ctx: typer.Context, fix: bool) -> None:
    """`check-secrets --backend`: the value checks against the manifest's secrets manager,
    values in memory only. Always raises typer.Exit (through the boundary)."""

    def op(project: Project) -> Report:
        from titan_deploy.errors import UsageError
        from titan_deploy.ops.check_backend import run_check_backend

        if fix:
            raise UsageError("check-secrets: --fix applies to the secrets dir, not to --backend")
        return run_check_backend(project)

    execute(ctx, "check-secrets", op)


def render_agent(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if a file on disk is out of date.")
    ] = False,
) -> None:
    """Write the agent's config (OpenBao: bao-agent.hcl, AppRole from files, one template per
    consumer and secret; AWS Secrets Manager: aws-agent.json for titan-deploy's renderer) and
    docker-compose.agent.yml (the agent sidecar, one tmpfs volume per
    consumer mounted at /run/secrets, consumers started once every file is rendered)."""
    from titan_deploy.ops.render_agent import run_render_agent

    execute(ctx, "render-agent", lambda project: run_render_agent(project, check=check))
