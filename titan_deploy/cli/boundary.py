"""The CLI boundary: what the global options decided, running an op, and what may be printed.

Every command of `cli/app.py` and `cli/rotate.py` goes through `execute`: it builds the Project,
runs `op(project)` (which returns a Report and never prints), hands the report to the one reporter
(`cli/output.py`) and exits with the report's code. Expected failures (TitanError) become one
line and their exit code; so do the operating system's (a symlink loop, a permission, a full
disk: `PATH: reason`, see errors.os_failure); anything unexpected becomes one line and exit 3,
with the traceback only under -v. Usage errors (click's) take the same way out (`RootGroup`,
`usage_failure`): one line, and under `--json` the error document on stdout.

Everything printed goes through one scrubber (`scrubber`): every value in the secrets dir
(versions included), in the env files compose reads, and read from stdin in this process.

This module imports neither the typer app nor its sub-apps, so both can import it (no cycle).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from titan_deploy.cli.clickapi import exceptions as click_errors
from titan_deploy.cli.output import Output, format_of
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

if TYPE_CHECKING:
    from titan_deploy.io.knownvalues import Sources
    from titan_deploy.project import Project

PROGRAM = "titan-deploy"


class State:
    """What the global options decided, handed to every command through the typer context.

    `project_kwargs` are the keyword arguments of `Project` (project_dir, manifest_option,
    secrets_dir_option, compose_file_options, project_name); `output` is the one reporter, its
    scrubber wired to this run's project."""

    def __init__(self, project_kwargs: dict[str, Any], output: Output) -> None:
        self.project_kwargs = project_kwargs
        self.output = output
        self._project: Project | None = None
        output.scrubber = lambda: scrubber(project_kwargs, self._project)

    def project(self) -> Project:
        """The Project (built once: the scrubber reuses its parsed manifest). Raises what
        Project raises (ConfigError for a bad manifest or option)."""
        from titan_deploy.project import Project

        if self._project is None:
            self._project = Project(**self.project_kwargs)
        return self._project


def execute(ctx: typer.Context, command: str, op: Callable[[Project], Report]) -> None:
    """The error boundary: run `op(project)`, render its report, exit with its code.

    Always raises typer.Exit: the report's exit code, a failure's (one line, scrubbed by the
    Output): a TitanError as it says; an OSError as `PATH: reason` (exit 2 for the operator's
    files, 3 for the machine: errors.os_failure); pathlib's symlink-loop RuntimeError likewise;
    Ctrl-C 130; anything else `internal error` (exit 3, the traceback only under -v)."""
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


def _details(exc: TitanError) -> str:
    """What -v adds to a failure: a compose call's argv, exit code and stderr."""
    if isinstance(exc, ComposeError):
        return f"argv: {' '.join(exc.argv)}\nexit: {exc.returncode}\n{exc.stderr.strip()}"
    return ""


# --- usage errors: click's, before any command runs ---------------------------------------------


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
        except typer.Abort:  # click's Abort: input ended (EOF) while it parsed; a usage error
            code = usage_failure(click_errors.UsageError("aborted"), argv, set(self.commands))
        if standalone_mode:
            sys.exit(code)
        return code


def usage_failure(exc: Any, argv: list[str], commands: set[str]) -> int:
    """Report a click error (bad option, unknown command, no command) like any failure;
    returns its exit code (2 unless click says otherwise)."""
    json_mode = wants_json(argv) or format_of(argv) != "text"
    ctx = getattr(exc, "ctx", None)
    code: int = getattr(exc, "exit_code", EXIT_CONFIG) or EXIT_CONFIG
    if isinstance(exc, click_errors.NoArgsIsHelpError) and not json_mode:
        exc.show()  # no command at all: the help, as before
        return code
    state = ctx.find_root().obj if ctx is not None else None
    if isinstance(state, State):
        output = state.output
    else:
        output = Output(json_mode=json_mode, no_color="--no-color" in argv)
        output.scrubber = lambda: scrubber(default_project_kwargs())
    output.set_format(format_of(argv))
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
        return str(ctx.command_path[len(root) :].strip())
    return next((token for token in argv if token in commands), PROGRAM)


# --- the scrubber of everything printed ---------------------------------------------------------


def default_project_kwargs() -> dict[str, Any]:
    """The Project keyword arguments when no global option was given (a usage error)."""
    return {
        "project_dir": Path("."),
        "manifest_option": Path("secrets.manifest.yml"),
        "secrets_dir_option": None,
        "compose_file_options": [],
        "project_name": None,
    }


def scrubber(
    project_kwargs: dict[str, Any], project: Project | None = None
) -> Callable[[str], str]:
    """The text -> text scrubber of everything printed: redacts every value of every file in the
    secrets dir (versions too), of every env file compose reads, and read in this process; it
    re-reads them when they change (a rotation writes new versions while it reports progress).
    Never fails: what it cannot read, it cannot redact (and the tool cannot print either)."""
    from titan_deploy.io.knownvalues import Scrubber

    sources = None
    with contextlib.suppress(Exception):  # the scrubber must never be the thing that fails
        sources = _sources(project_kwargs, project)
    return Scrubber(sources)


def _sources(project_kwargs: dict[str, Any], project: Project | None = None) -> Sources | None:
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
