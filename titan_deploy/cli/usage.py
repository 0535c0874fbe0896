"""click's usage errors (a bad option, an unknown command, no command) take the way out of every
other failure: one line on stderr, and under `--json`/`--format` the error document on stdout,
exit 2 (README "Exit codes"). `RootGroup` is the typer app's root command (cli/app.py); the
boundary it reports through is cli/boundary.py, which imports no typer (cli/entry.py runs
check-secrets through it without building the app).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from titan_deploy.cli.boundary import PROGRAM, State, default_project_kwargs, scrubber
from titan_deploy.cli.clickapi import exceptions as click_errors
from titan_deploy.cli.output import Output, OutputFailed, discard_stdout, format_of
from titan_deploy.errors import EXIT_CONFIG, EXIT_RUNTIME


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
            code = self._run(argv, prog_name, complete_var, **extra)
        except OutputFailed as exc:  # stdout full or closed: any command, any format
            discard_stdout()
            sys.stderr.write(f"error: {exc}\n")
            code = EXIT_RUNTIME
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self, argv: list[str], prog_name: str | None, complete_var: str | None, **extra: Any
    ) -> int:
        """Run the command line; its exit code (click's usage errors reported as failures)."""
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            return result if isinstance(result, int) else 0
        except click_errors.ClickException as exc:
            return usage_failure(exc, argv, set(self.commands))
        except typer.Abort:  # click's Abort: input ended (EOF) while it parsed; a usage error
            return usage_failure(click_errors.UsageError("aborted"), argv, set(self.commands))


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
