"""The one reporter: a Report becomes a rich table on a terminal, JSON or SARIF on stdout.

`--format text|json|sarif` (`--json` is `--format json`). JSON and SARIF modes print exactly one
document on stdout and nothing else (SARIF: core/sarif.py, README "SARIF"). Human mode prints the
command's rows, then findings, then a summary line. Every string goes through `escape` so text like
`[MASKED]` is shown literally instead of being read as rich markup. rich is imported only here.

Every text printed here — a report (both forms), an error line, its -v details, a progress line —
first goes through the scrubber (`core.redact.Redactor`, built lazily by the CLI from every value
on disk and in the process), so a value quoted by compose or a tool never reaches the terminal or
a CI log in any form.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from titan_deploy.core.findings import Finding, Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class OutputFailed(Exception):
    """stdout could not be written (a full disk, /dev/full, a closed pipe): the CLI boundary
    (RootGroup.main) says so in one line on stderr, exit 3, for every command."""


def write_stdout(text: str) -> None:
    """Write `text` to stdout and flush; OutputFailed (one line, no traceback) when it cannot."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise OutputFailed(_why(exc)) from None


def _why(exc: OSError) -> str:
    return f"cannot write the output to stdout: {exc.strerror or type(exc).__name__}"


def discard_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's final flush of what is still buffered
    cannot fail again (and print a second message) after OutputFailed was reported."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


class OutputFormat(str, enum.Enum):
    """`--format`: what a report is printed as."""

    text = "text"
    json = "json"
    sarif = "sarif"


FORMATS = tuple(f.value for f in OutputFormat)


@dataclass
class Output:
    json_mode: bool = False
    """One document on stdout and nothing else: `--json`, `--format json` or `--format sarif`."""
    format: str = "text"
    """text, json or sarif (`--json` alone means json)."""
    no_color: bool = False
    verbose: bool = False
    scrubber: Callable[[], Callable[[str], str]] | None = field(default=None, repr=False)
    """Builds the text -> text scrubber on first use (reading the secrets dir costs a little)."""
    root: str | None = None
    """The project dir (absolute) once the run has a project (`boundary.State.project` sets it):
    SARIF's PROJECTROOT, which a finding's file is relative to."""

    def __post_init__(self) -> None:
        self.no_color = self.no_color or bool(os.environ.get("NO_COLOR"))
        self.set_format(self.format, self.json_mode)
        self._scrub: Callable[[str], str] | None = None

    def set_format(self, format: str, json_alias: bool = False) -> None:
        """Choose the format: `format` (text, json, sarif); `json_alias` (`--json`) turns text
        into json. Both json and sarif reserve stdout for one document."""
        if format == "text" and json_alias:
            format = "json"
        self.format = format
        self.json_mode = format != "text"

    def scrub(self, text: str) -> str:
        """`text` without any known secret value (see core.redact)."""
        if not text or self.scrubber is None:
            return text
        if self._scrub is None:
            self._scrub = self.scrubber()
        return self._scrub(text)

    def scrub_data(self, obj: Any) -> Any:
        """A copy of JSON-like `obj` with every string scrubbed (dict keys are the tool's own)."""
        if isinstance(obj, str):
            return self.scrub(obj)
        if isinstance(obj, dict):
            return {key: self.scrub_data(value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.scrub_data(item) for item in obj]
        return obj

    def scrub_report(self, report: Report) -> Report:
        """A copy of `report` with every text scrubbed (severity and code are the tool's own)."""
        copy = dataclasses.replace(report)
        copy.findings = [self._scrub_finding(f) for f in report.findings]
        copy.rows = self.scrub_data(report.rows)
        copy.data = self.scrub_data(report.data)
        copy.summary = self.scrub(report.summary)
        return copy

    def _scrub_finding(self, finding: Finding) -> Finding:
        changes: dict[str, Any] = {}
        for item in dataclasses.fields(finding):
            value = getattr(finding, item.name)
            if item.name not in ("severity", "code") and isinstance(value, str):
                changes[item.name] = self.scrub(value)
        return dataclasses.replace(finding, **changes)

    def console(self, stderr: bool = False):
        from rich.console import Console

        return Console(
            stderr=stderr,
            no_color=self.no_color,
            highlight=False,
            soft_wrap=False,
            width=None if sys.stdout.isatty() else 160,
        )

    def report(self, report: Report) -> None:
        report = self.scrub_report(report)
        if self.format == "sarif":
            from titan_deploy.core.sarif import sarif_log

            root = self.root or os.path.abspath(os.curdir)  # no project read: -C's default
            self._document(sarif_log(report, _tool_version(), root))
            return
        if self.json_mode:
            self._document(report.to_dict())
            return
        shown = [f for f in report.findings if self.verbose or f.severity != "info"]
        if not report.rows and not shown:  # the summary alone (a clean check-secrets): no rich
            self._summary_line(report)
            return
        try:
            _render_human(self.console(), report, self.verbose)
            sys.stdout.flush()
        except OSError as exc:
            raise OutputFailed(_why(exc)) from None

    def _summary_line(self, report: Report) -> None:
        """The summary as rich would print it (green when ok, bold red when not, colour only on
        a terminal without NO_COLOR/--no-color), without importing rich (issue 15: start-up)."""
        if not report.summary:
            return
        text = report.summary
        if sys.stdout.isatty() and not self.no_color and not os.environ.get("NO_COLOR"):
            text = f"{_GREEN if report.ok else _BOLD_RED}{text}{_RESET}"
        write_stdout(text + "\n")

    def failure(self, command: str, message: str, exit_code: int, details: str = "") -> None:
        """One clear line on stderr (and a JSON document on stdout in --json mode)."""
        message = " ".join(self.scrub(message).split())
        details = self.scrub(details)
        if self.format == "sarif":
            from titan_deploy.core.sarif import sarif_failure

            doc = sarif_failure(command, message, exit_code, _tool_version(), self.root)
            self._document(doc)
        elif self.json_mode:
            doc = {"command": command, "ok": False, "exit_code": exit_code, "error": message}
            self._document(doc)
        from rich.markup import escape

        console = self.console(stderr=True)
        console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        if self.verbose and details:
            console.print(escape(details))

    def _document(self, doc: dict[str, Any]) -> None:
        """One JSON document on stdout (the only thing printed there in json/sarif mode)."""
        write_stdout(json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def progress(self, message: str) -> None:
        """A progress line on stderr (never on stdout, which --json reserves)."""
        from rich.markup import escape

        message = self.scrub(message)
        self.console(stderr=True).print(f"[dim]…[/] {escape(message)}", soft_wrap=True)


_GREEN, _BOLD_RED, _RESET = "\x1b[32m", "\x1b[1;31m", "\x1b[0m"


def format_of(argv: list[str]) -> str:
    """The output format asked for on a command line click could not parse (a usage error):
    `--format X` / `--format=X` (the last one, X one of FORMATS), else json if `--json` was given,
    else text. Nothing after a `--` counts."""
    chosen, json_alias = "text", False
    for i, token in enumerate(argv):
        if token == "--":
            break
        value = token.partition("=")[2] if token.startswith("--format=") else None
        if token == "--format" and i + 1 < len(argv):
            value = argv[i + 1]
        if value in FORMATS:
            chosen = value
        json_alias = json_alias or token == "--json"
    return "json" if chosen == "text" and json_alias else chosen


def _tool_version() -> str:
    from titan_deploy import __version__

    return __version__


def _render_human(console: Any, report: Report, verbose: bool) -> None:
    """Rows, then findings (info only under -v), then the summary line. rich.table is imported
    only when there is a table to print (a clean check-secrets prints none)."""
    from rich.markup import escape

    if report.rows:
        console.print(_rows_table(report, escape))
    shown = [f for f in report.findings if verbose or f.severity != "info"]
    if shown:
        console.print(_findings_table(shown, escape))
    if report.summary:
        style = "green" if report.ok else "bold red"
        console.print(f"[{style}]{escape(report.summary)}[/]", soft_wrap=True)


def _rows_table(report: Report, escape: Any) -> Any:
    from rich.table import Table

    columns = report.columns or list(report.rows[0])
    table = Table(show_header=True, header_style="bold", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(*(_cell(row.get(c), escape) for c in columns))
    return table


def _findings_table(shown: list[Finding], escape: Any) -> Any:
    from rich.table import Table

    staged = any(f.stage for f in shown)  # `up`: which stage found each one
    table = Table(show_header=True, header_style="bold")
    headers = (("stage",) if staged else ()) + ("severity", "code", "where", "problem", "fix")
    for column in headers:
        table.add_column(column, overflow="fold")
    for f in shown:
        where = " / ".join(x for x in (f.where, f.service, f.secret) if x)
        style = SEVERITY_STYLE.get(f.severity, "")
        severity = f"[{style}]{f.severity}[/]"
        problem = f.message
        if f.waived is not None:  # shown in every report, marked, with the waiver's reason
            severity = f"[dim]waived {f.severity}[/]"
            until = f", until {f.waived_until}" if f.waived_until else ""
            problem += f" [waived: {f.waived}{until}]"
        cells = [severity, f.code, escape(where), escape(problem), escape(f.fix or "")]
        table.add_row(*(([escape(f.stage or "")] if staged else []) + cells))
    return table


def _cell(value: Any, escape: Any) -> str:
    if value is True:
        return "[green]ok[/]"
    if value is False:
        return "[bold red]FAIL[/]"
    return escape("" if value is None else str(value))
