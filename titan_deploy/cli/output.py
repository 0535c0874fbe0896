"""The one reporter: a Report becomes a rich table on a terminal or JSON on stdout (DESIGN §3).

JSON mode prints exactly one JSON document on stdout and nothing else. Human mode prints the
command's rows, then findings, then a summary line. Every string goes through `escape` so text like
`[MASKED]` is shown literally instead of being read as rich markup. rich is imported only here.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from titan_deploy.core.findings import Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@dataclass
class Output:
    json_mode: bool = False
    no_color: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        self.no_color = self.no_color or bool(os.environ.get("NO_COLOR"))

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
        if self.json_mode:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
            sys.stdout.flush()
            return
        _render_human(self.console(), report, self.verbose)

    def failure(self, command: str, message: str, exit_code: int, details: str = "") -> None:
        """One clear line on stderr (and a JSON document on stdout in --json mode)."""
        if self.json_mode:
            doc = {"command": command, "ok": False, "exit_code": exit_code, "error": message}
            sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        from rich.markup import escape

        console = self.console(stderr=True)
        console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        if self.verbose and details:
            console.print(escape(details))

    def progress(self, message: str) -> None:
        """A progress line on stderr (never on stdout, which --json reserves)."""
        from rich.markup import escape

        self.console(stderr=True).print(f"[dim]…[/] {escape(message)}", soft_wrap=True)


def _render_human(console: Any, report: Report, verbose: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if report.rows:
        columns = report.columns or list(report.rows[0])
        table = Table(show_header=True, header_style="bold", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in report.rows:
            table.add_row(*(_cell(row.get(c), escape) for c in columns))
        console.print(table)
    shown = [f for f in report.findings if verbose or f.severity != "info"]
    if shown:
        staged = any(f.stage for f in shown)  # `up`: which stage found each one
        table = Table(show_header=True, header_style="bold")
        columns = (("stage",) if staged else ()) + ("severity", "code", "where", "problem", "fix")
        for column in columns:
            table.add_column(column, overflow="fold")
        for f in shown:
            where = " / ".join(x for x in (f.service, f.secret) if x)
            style = SEVERITY_STYLE.get(f.severity, "")
            cells = [
                f"[{style}]{f.severity}[/]",
                f.code,
                escape(where),
                escape(f.message),
                escape(f.fix or ""),
            ]
            table.add_row(*(([escape(f.stage or "")] if staged else []) + cells))
        console.print(table)
    if report.summary:
        style = "green" if report.ok else "bold red"
        console.print(f"[{style}]{escape(report.summary)}[/]", soft_wrap=True)


def _cell(value: Any, escape: Any) -> str:
    if value is True:
        return "[green]ok[/]"
    if value is False:
        return "[bold red]FAIL[/]"
    return escape("" if value is None else str(value))
