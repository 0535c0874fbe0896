"""The typer app: global options -> State, and one thin function per command.

Commands are thin: they turn options into keyword arguments and hand an op (which returns a
Report and never prints) to the boundary (`cli/boundary.py`: `execute` runs it, renders the report
once and maps every failure to one line and its exit code; `RootGroup` does the same for click's
usage errors; everything printed is scrubbed of every known secret value). typer's pretty
tracebacks are off: they print local variables, which may hold secret values. `rotate ...` is a
sub-app in `cli/rotate.py`; the commands on the deployed stack are in `cli/deploy.py`, the
secrets-manager commands in `cli/backend.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from titan_deploy.cli import backend as backend_cli
from titan_deploy.cli import deploy, numbers
from titan_deploy.cli.boundary import State, execute
from titan_deploy.cli.output import Output, OutputFormat
from titan_deploy.cli.rotate import rotate_app
from titan_deploy.cli.usage import RootGroup

if TYPE_CHECKING:
    from titan_deploy.core.findings import Report
    from titan_deploy.project import Project

app = typer.Typer(
    name="titan-deploy",
    help=(
        "Deploy the Titan stack with Docker Compose so that every secret reaches its service as a "
        "file under /run/secrets and nowhere else.\n\n"
        "Exit codes: 0 all good; 1 problems found; 2 usage or configuration error; "
        "3 runtime failure (engine, compose, timeout)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=RootGroup,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    project_dir: Annotated[
        Path, typer.Option("--project-dir", "-C", help="Project directory (holds the manifest).")
    ] = Path("."),
    manifest: Annotated[
        Path, typer.Option("--manifest", help="Manifest path, relative to the project dir.")
    ] = Path("secrets.manifest.yml"),
    secrets_dir: Annotated[
        Path | None,
        typer.Option("--secrets-dir", help="Secrets dir (default: the manifest's secrets_dir)."),
    ] = None,
    compose_file: Annotated[
        list[str] | None,
        typer.Option(
            "--file", "-f", help="Compose file (repeatable; default: the manifest's compose_files)."
        ),
    ] = None,
    project_name: Annotated[
        str | None,
        typer.Option("--project-name", "-p", help="Compose project name (default: compose's)."),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            help="Compose profile to enable (repeatable; default: COMPOSE_PROFILES); passed to "
            "every compose call.",
        ),
    ] = None,
    env_file: Annotated[
        list[str] | None,
        typer.Option(
            "--env-file",
            help="Compose env file, relative to the project dir (repeatable; default: "
            "<project dir>/.env); passed to every compose call.",
        ),
    ] = None,
    swarm: Annotated[
        bool,
        typer.Option(
            "--swarm",
            help="Deploy with Docker Swarm (docker stack deploy; up, verify, status, down); "
            "default: the manifest's deploy.engine.",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON on stdout, nothing else.")
    ] = False,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="text, json (= --json) or sarif (SARIF 2.1.0 for code scanning: "
            "check-secrets, lint, verify, audit-logs).",
        ),
    ] = OutputFormat.text,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")] = False,
) -> None:
    """Global options go before the command: titan-deploy -C /srv/titan --json check-secrets."""
    ctx.obj = State(
        {
            "project_dir": project_dir,
            "manifest_option": manifest,
            "secrets_dir_option": secrets_dir,
            "compose_file_options": list(compose_file or []),
            "project_name": project_name,
            "profiles": list(profile or []),
            "env_file_options": list(env_file or []),
            "swarm_option": swarm,
        },
        Output(
            json_mode=json_output, format=output_format.value, no_color=no_color, verbose=verbose
        ),
    )


# --- commands: options -> keyword arguments -> op ----------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="Copy operator-supplied secrets from this directory."),
    ] = None,
    from_sops: Annotated[
        Path | None,
        typer.Option(
            "--from-sops",
            help="Import secrets from this SOPS file (keys = secret names; the age key from "
            "SOPS_AGE_KEY_FILE), decrypted in memory.",
        ),
    ] = None,
) -> None:
    """Create the secrets dir: generate what can be generated, never overwrite a secret."""
    from titan_deploy.ops.init import run_init

    execute(ctx, "init", lambda project: run_init(project, from_dir=from_dir, from_sops=from_sops))


@app.command()
def adopt(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing.")
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Also adopt this env name (repeatable): a value that "
            "only looks random is listed as possible, not adopted, without it.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Never adopt this env name (repeatable)."),
    ] = None,
    secrets_gid: Annotated[
        int | None,
        typer.Option(
            "--secrets-gid",
            help="Secrets group for a NEW manifest (files 0640, consumers get the group); "
            "without it files are 0600.",
            click_type=numbers.Bounded(int, maximum=2**31 - 1, positive=True),
        ),
    ] = None,
) -> None:
    """Move the secrets of env files into ./secrets/ without editing the compose files.

    Finds secrets by name (*PASSWORD*, *SECRET*, *TOKEN*, *_KEY, URLs with a password) and by
    value in the services' env_file:s, environment: and .env; one value under several names is
    one secret. Writes secrets/<name> (never over a different value), the manifest, the overlay,
    and each env file without the adopted lines (the original kept as a 0600 backup in the state
    dir). What it cannot adopt (a value on a command line, in environment: of an upstream file)
    is listed with the reason. No value is ever printed. Exit 0 adopted, 1 nothing to adopt or a
    secret file with another value, 2 bad input.
    """
    from titan_deploy.ops import stack
    from titan_deploy.ops.adopt import run_adopt

    execute(
        ctx,
        "adopt",
        lambda project: run_adopt(
            project,
            dry_run=dry_run,
            include=include or (),
            exclude=exclude or (),
            secrets_gid=secrets_gid,
            compose_for=stack.real(project).compose,
        ),
    )


@app.command("check-secrets")
def check_secrets(
    ctx: typer.Context,
    fix: Annotated[
        bool, typer.Option("--fix", help="Fix permissions, group and a trailing newline.")
    ] = False,
    backend: Annotated[
        bool,
        typer.Option("--backend", help="Check the manifest's secrets manager, not the dir."),
    ] = False,
) -> None:
    """Preflight the secrets dir against the manifest (existence, format, permissions, git)."""
    if backend:
        from titan_deploy.cli.backend import check_backend

        check_backend(ctx, fix)
    from titan_deploy.ops.check import run_check

    execute(ctx, "check-secrets", lambda project: run_check(project, fix=fix))


@app.command()
def render(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the overlay on disk is out of date.")
    ] = False,
) -> None:
    """Write docker-compose.secrets.yml from the manifest (and any rotation in flight)."""
    from titan_deploy.ops import stack
    from titan_deploy.ops.render import run_render

    execute(
        ctx,
        "render",
        lambda project: run_render(project, check=check, compose_for=stack.real(project).compose),
    )


@app.command()
def lint(ctx: typer.Context) -> None:
    """Lint the merged compose config (compose files + overlay), interpolation off."""
    from titan_deploy.ops import stack
    from titan_deploy.ops.lint import run_lint

    execute(ctx, "lint", lambda project: run_lint(project, stack.real(project).compose))


# the commands on the deployed stack, Compose or Swarm (cli/deploy.py)
app.command()(deploy.up)
app.command()(deploy.verify)
app.command()(deploy.status)
app.command()(deploy.down)
app.command("audit-logs")(deploy.audit_logs)


@app.command()
def history(
    ctx: typer.Context,
    verify_chain: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the hash chain and the head: exit 1 on a removed, "
            "reordered or edited record.",
        ),
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            help="Show the last N records (0: all).",
            click_type=numbers.Bounded(int, maximum=2**31 - 1),
        ),
    ] = 50,
) -> None:
    """Who changed what and when: one record per state-changing command (never a value)."""
    from titan_deploy.ops.history import run_history

    execute(ctx, "history", lambda project: run_history(project, verify=verify_chain, limit=limit))


@app.command()
def backup(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Secrets to copy (default: every secret).")
    ] = None,
) -> None:
    """Keep an age-encrypted copy of every version of these secrets (to the manifest's
    backup.recipients) under the state dir, 0600. Plaintext never leaves the secrets dir."""
    from titan_deploy.ops.backup import run_backup

    execute(ctx, "backup", lambda project: run_backup(project, names or ()))


@app.command()
def restore(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret to restore.")],
    version: Annotated[
        str, typer.Option("--version", help="The kept version: a number, or `base`.")
    ],
    identity: Annotated[
        Path,
        typer.Option("--identity", help="age identity FILE (a path; never a key on argv)."),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask; restore.")] = False,
) -> None:
    """Bring a kept version back as the secret's new current version (a new version file;
    consumers repointed at the next `up`), after confirming."""
    from titan_deploy.core.backup import parse_version
    from titan_deploy.errors import UsageError
    from titan_deploy.ops.restore import run_restore

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("restore asks before it changes anything: pass --yes")
        return typer.confirm(question, default=False, err=True)

    def op(project: Project) -> Report:
        try:
            wanted = parse_version(version)
        except ValueError:
            raise UsageError("--version: a version number (1, 2, ...) or `base`") from None
        return run_restore(project, name, wanted, identity, confirm=confirm)

    execute(ctx, "restore", op)


@app.command()
def schema() -> None:
    """Print the manifest's JSON Schema (README "Manifest schema"); editors use it through the
    manifest's `# yaml-language-server: $schema=...` line. Reads no project."""
    from titan_deploy.cli.output import write_stdout
    from titan_deploy.ops.schema import run_schema

    write_stdout(run_schema())


app.command()(backend_cli.push)
app.command()(backend_cli.pull)
app.command("render-agent")(backend_cli.render_agent)
app.add_typer(rotate_app, name="rotate")


def main() -> None:
    """The typer app as a program (the console script is cli/entry.main, which runs a plain
    check-secrets without building this app and hands every other command line to it)."""
    sys.exit(app())
