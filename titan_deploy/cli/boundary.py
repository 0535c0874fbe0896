"""The CLI boundary: what the global options decided, running an op, and what may be printed.

Every command of `cli/app.py` and `cli/rotate.py` goes through `execute`: it builds the Project,
runs `op(project)` (which returns a Report and never prints), hands the report to the one reporter
(`cli/output.py`) and exits with the report's code. Expected failures (TitanError) become one
line and their exit code; so do the operating system's (a symlink loop, a permission, a full
disk: `PATH: reason`, see errors.os_failure); anything unexpected becomes one line and exit 3,
with the traceback only under -v. Usage errors (click's) take the same way out (`cli/usage.py`:
`RootGroup`, `usage_failure`): one line, and under `--json` the error document on stdout.

A command declared in `STATE_CHANGING` (when its parameters say it changes state) gets one
history record after it ran, success or failure (README "History"): this is the only place that
records; no op does.

Everything printed goes through one scrubber (`scrubber`): every value in the secrets dir
(versions included), in the env files compose reads, and read from stdin in this process.

This module imports neither the typer app nor its sub-apps, so both can import it (no cycle),
nor typer itself: `run` is the boundary without typer, which cli/entry.py uses to run
check-secrets without building the app (issue 15: start-up).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from titan_deploy.cli.output import Output
from titan_deploy.core.findings import Finding, Report, warning
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
    import typer

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
            self.output.root = str(self._project.project_dir)  # SARIF's PROJECTROOT
        return self._project

    def built_project(self) -> Project | None:
        """The Project if this run built one (else None: nothing ran against a project)."""
        return self._project


def execute(ctx: typer.Context, command: str, op: Callable[[Project], Report]) -> None:
    """The error boundary of a typer command: `run` with the context's State and parameters.

    Always raises typer.Exit with the exit code `run` returns."""
    import typer  # already loaded: `ctx` is typer's

    raise typer.Exit(run(ctx.obj, command, dict(ctx.params), op))


def run(state: State, command: str, params: dict[str, Any], op: Callable[[Project], Report]) -> int:
    """Run `op(project)`, render its report, return the exit code (no typer: cli/entry.py runs
    check-secrets through here without building the typer app).

    The report's exit code, or a failure's (one line, scrubbed by the Output): a TitanError as it
    says; an OSError as `PATH: reason` (exit 2 for the operator's files, 3 for the machine:
    errors.os_failure); pathlib's symlink-loop RuntimeError likewise; Ctrl-C 130; anything else
    `internal error` (exit 3, the traceback only under -v). `params` are the command's parsed
    options (they decide whether the run is recorded in the history)."""
    output = state.output
    try:
        report = op(state.project())
    except KeyboardInterrupt:
        _record_failure(state, command, params, 130, "KeyboardInterrupt")
        output.failure(command, "interrupted", 130)
        return 130
    except Exception as exc:
        failure = expected_failure(exc)
        if failure is None:
            import traceback  # only for an internal error (issue 15: start-up)

            details = traceback.format_exc() if output.verbose else ""
            _record_failure(state, command, params, EXIT_RUNTIME, type(exc).__name__)
            message = f"internal error ({type(exc).__name__}); run with -v for the traceback"
            output.failure(command, message, EXIT_RUNTIME, details)
            return EXIT_RUNTIME
        _record_failure(state, command, params, failure.exit_code, type(failure).__name__)
        output.failure(command, str(failure), failure.exit_code, _details(failure))
        return failure.exit_code
    if changes_state(command, params):
        not_recorded = record_history(state, command, params, report.exit_code, report=report)
        if not_recorded:
            report.findings.append(_not_recorded(not_recorded))
    output.report(report)
    return report.exit_code


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


# --- the history of state-changing commands (README "History") -------------------------------


def _always(params: dict[str, Any]) -> bool:
    return True


def _unless(flag: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: not params.get(flag)


def _when(flag: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: bool(params.get(flag))


# Each command that may change state, and when (from its parameters): `execute` appends one
# history record after it ran. A new command goes in here or in READ_ONLY
# (tests/cli/test_history_cli.py fails on one in neither).
STATE_CHANGING: dict[str, Callable[[dict[str, Any]], bool]] = {
    "init": _always,
    "adopt": _unless("dry_run"),
    "check-secrets": _when("fix"),
    "render": _unless("check"),
    "up": _always,
    "down": _always,
    "push": _unless("dry_run"),
    "pull": _unless("dry_run"),
    "render-agent": _unless("check"),
    "backup": _always,
    "restore": _unless("dry_run"),
    "rotate hmac": _unless("dry_run"),
    "rotate db": _unless("dry_run"),
    "rotate nats": _unless("dry_run"),
    "rotate exchange": _unless("dry_run"),
    "rotate secret": _unless("dry_run"),
    "rotate resume": _unless("dry_run"),
    "rotate abort": _unless("dry_run"),
}
READ_ONLY = frozenset(
    {"lint", "verify", "status", "audit-logs", "history", "schema", "rotate status"}
)


def changes_state(command: str, params: dict[str, Any]) -> bool:
    """Whether this run of `command` (with its parsed `params`) is recorded in the history."""
    decide = STATE_CHANGING.get(command)
    return decide is not None and decide(params)


def record_history(
    state: State,
    command: str,
    params: dict[str, Any],
    exit_code: int,
    *,
    report: Report | None = None,
    error: str | None = None,
) -> str | None:
    """Append this run's record to the history; None when appended and the head updated, else
    what happened (one line: not recorded and why, or recorded but the head left as it is).
    Never raises: the history must not change a command's outcome. Nothing is recorded when
    the project or its manifest could not be read (then nothing was changed either)."""
    project = state.built_project()
    if project is None:
        return None
    try:
        project.state_dir  # noqa: B018 - needs the manifest
    except Exception:  # no readable manifest: nothing ran against the project, nowhere to record
        return None
    from titan_deploy.core import history
    from titan_deploy.io import history as history_io

    try:
        what = state.output.scrub_data(history.what_of(report)) if report else {}
        when, who, options = history_io.now(), history_io.who(), history.options_of(params)
        outcome = history.outcome_of(exit_code, error)

        def build(head: history.Head) -> dict[str, Any]:
            return history.new_record(
                head,
                when=when,
                who=who,
                command=command,
                options=options,
                what=what,
                outcome=outcome,
            )

        history_io.append(project, build)
    except history_io.HeadNotUpdated as exc:
        return str(exc)
    except Exception as exc:  # the history must never be the thing that fails
        failure = expected_failure(exc)
        why = str(failure) if failure is not None else type(exc).__name__
        return f"this run was not recorded in the history: {why}"
    return None


def _record_failure(
    state: State, command: str, params: dict[str, Any], exit_code: int, error: str
) -> None:
    """Record a failed run, unless it was refused for its input or configuration (exit 2):
    such a run changed nothing (a refused write writes nothing, not even the history)."""
    if exit_code != EXIT_CONFIG and changes_state(command, params):
        why = record_history(state, command, params, exit_code, error=error)
        if why and state.output.verbose:  # a failure stays one line (README "Exit codes")
            state.output.progress(f"history: {why}")


def _not_recorded(why: str) -> Finding:
    return warning(
        "H001",
        why,
        fix="fix what the message names (the state dir, the history file); "
        "`titan-deploy history --verify` checks the history",
    )


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
    return Scrubber(sources, public=lambda: _public_names(project_kwargs, project))


def _public_names(project_kwargs: dict[str, Any], project: Project | None) -> list[str]:
    """Texts never redacted: the compose project name (`-p`, or the one this run resolved). A
    project name is not a secret, though a `.env` value may contain it."""
    names = [project_kwargs.get("project_name") or ""]
    if project is not None:
        names.append(project.__dict__.get("name") or "")  # only once resolved: never runs compose
    return [n for n in names if n]


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
        env_files=[*knownvalues.env_files(project.project_dir, composes), *project.env_files],
    )
