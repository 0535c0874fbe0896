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

    def to_dict(self) -> dict[str, Any]:
        out = {
            "severity": self.severity,
            "code": self.code,
            "secret": self.secret,
            "service": self.service,
            "message": self.message,
            "fix": self.fix,
        }
        if self.stage is not None:  # an added key: the pinned shape of other commands holds
            out["stage"] = self.stage
        return out


def error(code: str, message: str, **where: str | None) -> Finding:
    return Finding("error", code, message, **where)


def warning(code: str, message: str, **where: str | None) -> Finding:
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
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

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
            "counts": {"error": len(self.errors), "warning": len(self.warnings)},
            "findings": [f.to_dict() for f in self.findings],
            "rows": self.rows,
            "data": self.data,
        }
