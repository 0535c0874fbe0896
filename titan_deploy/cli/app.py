"""The typer app: global options -> Project + Output, one error boundary -> exit code.

Commands are thin: they turn options into keyword arguments, call an op (which returns a Report
and never prints), and hand the report to the one reporter. Expected failures (TitanError) become
one line and their exit code; so do the operating system's (a symlink loop, a permission, a full
disk: `PATH: reason`, see errors.os_failure); anything unexpected becomes one line and exit 3,
with the traceback only under -v. typer's pretty tracebacks are off: they print local variables,
which may hold secret values. Usage errors (click's) are one line too, and under `--json` the
error document on stdout, like any other failure.

Everything printed goes through one scrubber (`_scrubber`): every value in the secrets dir
(versions included), in the env files compose reads, and read from stdin in this process.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from titan_deploy.cli import numbers
from titan_deploy.cli.clickapi import exceptions as click_errors
from titan_deploy.cli.output import Output
from titan_deploy.core.findings import Report
from titan_deploy.errors import (
    EXIT_CONFIG,
    EXIT_RUNTIME,
    ComposeError,
    ConfigError,
    RuntimeFailure,
    TitanError,
    os_failure,
    symlink_loop_failure,
)

PROGRAM = "titan-deploy"


class RootGroup(TyperGroup):
    """The root command: click's usage errors take the same way out as every other failure —
    one line on stderr, and under `--json` the error document on stdout (exit 2)."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except click_errors.ClickException as exc:
            code = usage_failure(exc, argv, set(self.commands))
        except click_errors.Abort:
            code = usage_failure(click_errors.ClickException("aborted"), argv, set(self.commands))
        if standalone_mode:
            sys.exit(code)
        return code


def usage_failure(exc: Any, argv: list[str], commands: set[str]) -> int:
    """Report a click error (bad option, unknown command, no command) like any failure."""
    json_mode = wants_json(argv)
    ctx = getattr(exc, "ctx", None)
    code = getattr(exc, "exit_code", EXIT_CONFIG) or EXIT_CONFIG
    if isinstance(exc, click_errors.NoArgsIsHelpError) and not json_mode:
        exc.show()  # no command at all: the help, as before
        return code
    state = ctx.find_root().obj if ctx is not None else None
    if isinstance(state, State):
        output = state.output
    else:
        output = Output(json_mode=json_mode, no_color="--no-color" in argv)
        output.scrubber = lambda: _scrubber(_default_project_kwargs())
    output.json_mode = json_mode
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        message = "no command given"
    else:
        message = exc.format_message()
    where = ctx.command_path if ctx is not None else PROGRAM
    output.failure(_command_of(ctx, argv, commands), f"{message} (see `{where} --help`)", code)
    return code


def wants_json(argv: list[str]) -> bool:
    """Whether `--json` was given (anywhere before a `--`)."""
    for token in argv:
        if token == "--":
            return False
        if token == "--json":
            return True
    return False


def _command_of(ctx: Any, argv: list[str], commands: set[str]) -> str:
    """The command a usage error belongs to: `rotate hmac`, else the first command word typed."""
    if ctx is not None and ctx.parent is not None:
        root = ctx.find_root().command_path
        return ctx.command_path[len(root) :].strip()
    return next((token for token in argv if token in commands), PROGRAM)


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


class State:
    """What the global options decided, handed to every command through the typer context."""

    def __init__(self, project_kwargs: dict, output: Output) -> None:
        self.project_kwargs = project_kwargs
        self.output = output
        self._project = None
        output.scrubber = lambda: _scrubber(project_kwargs, self._project)

    def project(self):
        """The Project (built once: the scrubber reuses its parsed manifest)."""
        from titan_deploy.project import Project

        if self._project is None:
            self._project = Project(**self.project_kwargs)
        return self._project


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
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON on stdout, nothing else.")
    ] = False,
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
        },
        Output(json_mode=json_output, no_color=no_color, verbose=verbose),
    )


def execute(ctx: typer.Context, command: str, op: Callable[..., Report]) -> None:
    """The error boundary: run `op(project)`, render its report, exit with its code.

    Every failure is one line (the Output scrubs it): a TitanError as it says; an OSError as
    `PATH: reason` (exit 2 for the operator's files, 3 for the machine: errors.os_failure);
    pathlib's symlink-loop RuntimeError likewise; anything else `internal error` (exit 3)."""
    state: State = ctx.obj
    output = state.output
    try:
        report = op(state.project())
    except KeyboardInterrupt:
        output.failure(command, "interrupted", 130)
        raise typer.Exit(130) from None
    except Exception as exc:
        failure = expected_failure(exc)
        if failure is None:
            details = traceback.format_exc() if output.verbose else ""
            message = f"internal error ({type(exc).__name__}); run with -v for the traceback"
            output.failure(command, message, EXIT_RUNTIME, details)
            raise typer.Exit(EXIT_RUNTIME) from None
        output.failure(command, str(failure), failure.exit_code, _details(failure))
        raise typer.Exit(failure.exit_code) from None
    output.report(report)
    raise typer.Exit(report.exit_code)


def expected_failure(exc: BaseException) -> TitanError | None:
    """`exc` as the TitanError the operator should see, or None for an internal error."""
    if isinstance(exc, TitanError):
        return exc
    if isinstance(exc, OSError):
        return os_failure(exc)
    if isinstance(exc, RecursionError):
        return ConfigError("input nested too deeply to process")
    if isinstance(exc, RuntimeError):
        return symlink_loop_failure(exc)
    if isinstance(exc, MemoryError):
        return RuntimeFailure("out of memory")
    return None


def _default_project_kwargs() -> dict:
    return {
        "project_dir": Path("."),
        "manifest_option": Path("secrets.manifest.yml"),
        "secrets_dir_option": None,
        "compose_file_options": [],
        "project_name": None,
    }


def _scrubber(project_kwargs: dict, project: Any = None) -> Callable[[str], str]:
    """The text -> text scrubber of everything printed: redacts every value of every file in the
    secrets dir (versions too), of every env file compose reads, and read in this process; it
    re-reads them when they change (a rotation writes new versions while it reports progress).
    Never fails: what it cannot read, it cannot redact (and the tool cannot print either)."""
    from titan_deploy.io.knownvalues import Scrubber

    sources = None
    with contextlib.suppress(Exception):  # the scrubber must never be the thing that fails
        sources = _sources(project_kwargs, project)
    return Scrubber(sources)


def _sources(project_kwargs: dict, project: Any = None) -> Any:
    """Where the values are: the secrets dir (the manifest's, else the default), the example dir
    and the env files of the compose files (the manifest's, else -f, else the default)."""
    from titan_deploy.io import knownvalues
    from titan_deploy.project import Project

    try:
        project = project or Project(**project_kwargs)
    except TitanError:
        return None
    stores = {project.path(project_kwargs["secrets_dir_option"] or "secrets")}
    composes = [project.path(f) for f in project_kwargs["compose_file_options"]]
    try:
        stores.add(project.secrets_dir)
        composes = [project.path(f) for f in project.all_compose_files()]
    except TitanError:  # a broken manifest: the defaults
        composes = composes or [project.path("docker-compose.prod.yml")]
    return knownvalues.Sources(
        stores=sorted(stores),
        example_dir=project.path("secrets.example"),
        env_files=knownvalues.env_files(project.project_dir, composes),
    )


def _details(exc: TitanError) -> str:
    if isinstance(exc, ComposeError):
        return f"argv: {' '.join(exc.argv)}\nexit: {exc.returncode}\n{exc.stderr.strip()}"
    return ""


# --- commands: options -> keyword arguments -> op ----------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="Copy operator-supplied secrets from this directory."),
    ] = None,
) -> None:
    """Create the secrets dir: generate what can be generated, never overwrite a secret."""
    from titan_deploy.ops.init import run_init

    execute(ctx, "init", lambda project: run_init(project, from_dir=from_dir))


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
        ),
    )


@app.command("check-secrets")
def check_secrets(
    ctx: typer.Context,
    fix: Annotated[
        bool, typer.Option("--fix", help="Fix permissions, group and a trailing newline.")
    ] = False,
) -> None:
    """Preflight the secrets dir against the manifest (existence, format, permissions, git)."""
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
    from titan_deploy.ops.render import run_render

    execute(ctx, "render", lambda project: run_render(project, check=check))


@app.command()
def lint(ctx: typer.Context) -> None:
    """Lint the merged compose config (compose files + overlay), interpolation off."""
    from titan_deploy.ops.lint import run_lint

    execute(ctx, "lint", run_lint)


@app.command()
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
) -> None:
    """check-secrets -> render -> lint -> compose up -d --wait -> verify; stops at a failure."""
    from titan_deploy.ops.up import run_up

    output: Output = ctx.obj.output
    execute(ctx, "up", lambda project: run_up(project, timeout=timeout, progress=output.progress))


@app.command()
def verify(ctx: typer.Context) -> None:
    """Prove every secret is mounted, identical to the host file, readable and leaked nowhere."""
    from titan_deploy.ops.verify import run_verify

    execute(ctx, "verify", run_verify)


@app.command()
def status(ctx: typer.Context) -> None:
    """Services, their state and health, and how many of their secrets verify."""
    from titan_deploy.ops.status import run_status

    execute(ctx, "status", run_status)


@app.command()
def down(
    ctx: typer.Context,
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also remove named volumes (DESTROYS the data).")
    ] = False,
) -> None:
    """Stop and remove the stack's containers and network (volumes kept unless --volumes)."""
    from titan_deploy.ops.status import run_down

    execute(ctx, "down", lambda project: run_down(project, volumes=volumes))


@app.command("audit-logs")
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
    from titan_deploy.ops.audit import run_audit

    execute(
        ctx,
        "audit-logs",
        lambda project: run_audit(project, files=file, services=service, since=since, until=until),
    )


def _register_subcommands() -> None:
    from titan_deploy.cli.rotate import rotate_app

    app.add_typer(rotate_app, name="rotate")


_register_subcommands()


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
