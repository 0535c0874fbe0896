"""Findings and reports: every command's result is a value, rendered once (table or JSON).

A Finding names a secret and/or a service and says what is wrong and how to fix it. It never
carries a secret value, not even a fragment of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from titan_deploy.errors import EXIT_FINDINGS, EXIT_OK

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One problem (or note) found by a check."""

    severity: Severity
    code: str
    message: str
    secret: str | None = None
    service: str | None = None
    fix: str | None = None
    stage: str | None = None  # set by `up`: the stage that found it (check-secrets, lint, ...)
    file: str | None = None  # a file the finding is in (relative to the project dir when inside)
    line: int | None = None  # its 1-based line in `file`
    waived: str | None = None  # the reason of the manifest waiver that accepts it (core/waivers)
    waived_until: str | None = None  # that waiver's `expires` date (YYYY-MM-DD), if any

    @property
    def counts(self) -> bool:
        """Whether the finding fails a run: an error that no waiver accepts."""
        return self.severity == "error" and self.waived is None

    @property
    def where(self) -> str:
        """`file:line` (or `file`), or "" when the finding names no file."""
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "secret": self.secret,
            "service": self.service,
            "message": self.message,
            "fix": self.fix,
        }
        if self.stage is not None:  # an added key: the pinned shape of other commands holds
            out["stage"] = self.stage
        if self.file is not None:  # added keys too, only where a finding has them
            out["file"] = self.file
            out["line"] = self.line
        if self.waived is not None:
            out["waived"] = {"reason": self.waived, "expires": self.waived_until}
        return out


def error(code: str, message: str, **where: Any) -> Finding:
    return Finding("error", code, message, **where)


def warning(code: str, message: str, **where: Any) -> Finding:
    return Finding("warning", code, message, **where)


@dataclass
class Report:
    """What a command did: its findings, optional table rows, and a few named facts.

    `rows` are the command's own table (e.g. one per (service, secret) for verify); `data` holds
    extra machine-readable facts (paths written, counts). Both must be free of secret values.
    """

    command: str
    findings: list[Finding] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    failed: bool | None = None

    @property
    def errors(self) -> list[Finding]:
        """Errors that fail the run (a waived error is shown, never counted)."""
        return [f for f in self.findings if f.counts]

    @property
    def warnings(self) -> list[Finding]:
        """Warnings no waiver accepts."""
        return [f for f in self.findings if f.severity == "warning" and f.waived is None]

    @property
    def waived(self) -> list[Finding]:
        """Findings a manifest waiver accepts (README "Waivers"): shown, not counted."""
        return [f for f in self.findings if f.waived is not None]

    @property
    def ok(self) -> bool:
        return not self.failed if self.failed is not None else not self.errors

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FINDINGS

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "counts": self._counts(),
            "findings": [f.to_dict() for f in self.findings],
            "rows": self.rows,
            "data": self.data,
        }

    def _counts(self) -> dict[str, int]:
        counts = {"error": len(self.errors), "warning": len(self.warnings)}
        if self.waived:  # an added key, only when a waiver accepted something
            counts["waived"] = len(self.waived)
        return counts
