"""`history`: the records of state-changing commands (README "History"); `--verify` checks the
hash chain and the head.

Without `--verify` the records are shown as they are (a line that is not a record is a warning).
With it, every integrity problem core/history.verify_chain finds is an error (exit 1) naming the
line and record; a history that is group- or world-readable is a warning either way.
"""

from __future__ import annotations

from typing import Any

from titan_deploy.core import history
from titan_deploy.core.findings import Finding, Report, error, warning
from titan_deploy.io import history as history_io
from titan_deploy.project import Project

COLUMNS = ["seq", "when", "who", "command", "what", "outcome"]
DEFAULT_LIMIT = 50


def run_history(project: Project, *, verify: bool = False, limit: int = DEFAULT_LIMIT) -> Report:
    """The last `limit` records (all with limit 0), oldest first; with `verify`, the integrity
    problems as error findings. Raises ConfigError/OSError when the log cannot be read."""
    lines = history_io.read_lines(project)
    records = [history.parse_line(line) for line in lines]
    report = Report("history", columns=COLUMNS)
    shown = [r for r in records if r is not None]
    if limit:
        shown = shown[-limit:]
    report.rows = [_row(r) for r in shown]
    report.findings.extend(_mode_findings(project))
    if not lines:
        report.findings.extend(_missing(project, verify))
    if verify:
        report.findings.extend(_integrity(project, lines))
    else:
        bad = [n for n, r in enumerate(records, start=1) if r is None]
        if bad:
            report.findings.append(
                warning(
                    "H002",
                    f"line(s) {', '.join(map(str, bad[:10]))} of the history are not records",
                    fix="run `titan-deploy history --verify`",
                )
            )
    report.data = {
        "path": str(history_io.log_path(project)),
        "count": len(lines),
        "records": shown,
        "verified": (not report.errors) if verify else None,
    }
    report.summary = _summary(report, len(lines), len(shown), verify)
    return report


def _integrity(project: Project, lines: list[bytes]) -> list[Finding]:
    head = history_io.read_head(project)
    findings: list[Finding] = []
    if head is None and history_io.head_present(project):
        findings.append(
            error(
                "H004",
                f"{history_io.head_path(project)} is not a readable history head (not a regular "
                "file, or edited): a removed last record cannot be detected",
                fix="restore it from a backup",
            )
        )
        problems = history.verify_chain(lines, head)
        return findings + [_problem(p, file=_shown_log(project)) for p in problems if p.line]
    return findings + [
        _problem(p, "H004" if head is None and not p.line else "H003", _shown_log(project))
        for p in history.verify_chain(lines, head)
    ]


def _shown_log(project: Project) -> str:
    """The log as a finding's `file` (relative to the project dir when inside it)."""
    path = history_io.log_path(project)
    try:
        return str(path.relative_to(project.project_dir))
    except ValueError:
        return str(path)


def _problem(problem: history.Problem, code: str = "H003", file: str | None = None) -> Finding:
    text = problem.message
    return error(
        code,
        f"history {text}" if text.startswith("line ") else text,
        file=file if problem.line else None,
        line=problem.line or None,
        fix="the history was changed outside titan-deploy: compare it with a backup",
    )


def _missing(project: Project, verify: bool) -> list[Finding]:
    """The history is gone although the rotation journal shows rotations were made (each was
    recorded): a removed history, not a new one."""
    if history_io.head_present(project):
        return []
    from titan_deploy.errors import TitanError
    from titan_deploy.io import journal as journal_io

    try:
        journal = journal_io.load(project)
    except TitanError:
        return []
    if not (journal.assignments or journal.last_version):
        return []
    make = error if verify else warning
    return [
        make(
            "H006",
            f"the history ({history_io.log_path(project)}) is missing, but the rotation journal "
            "records rotations: it was removed",
            fix="restore the history and its head from a backup",
        )
    ]


def _mode_findings(project: Project) -> list[Finding]:
    mode = history_io.log_mode(project)
    if mode is None or not mode & 0o077:
        return []
    return [
        warning(
            "H005",
            f"{history_io.log_path(project)} is mode {mode:04o}; the history is kept 0600",
            fix=f"chmod 600 {history_io.log_path(project)}",
        )
    ]


def _row(record: dict[str, Any]) -> dict[str, Any]:
    who = _dict(record.get("who"))
    outcome = _dict(record.get("outcome"))
    code = outcome.get("exit_code")
    return {
        "seq": record.get("seq"),
        "when": record.get("when"),
        "who": f"{who.get('user')}({who.get('uid')})@{who.get('host')}",
        "command": record.get("command"),
        "what": _what_text(record.get("what")),
        "outcome": "ok"
        if code == 0
        else f"exit {code}" + (f" {outcome['error']}" if outcome.get("error") else ""),
    }


def _what_text(what: Any) -> str:
    if not isinstance(what, dict):
        return ""
    parts = []
    versions = _dict(what.get("versions"))
    secrets = [
        f"{s}@v{versions[s]}" if s in versions else str(s) for s in what.get("secrets") or []
    ]
    if secrets:
        parts.append("secrets " + ",".join(secrets))
    if what.get("services"):
        parts.append("services " + ",".join(map(str, what["services"])))
    for key in ("procedure", "outcome"):
        if what.get(key):
            parts.append(f"{key} {what[key]}")
    return "; ".join(parts)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _summary(report: Report, total: int, shown: int, verify: bool) -> str:
    text = f"{total} record(s), {shown} shown"
    if verify:
        problems = len(report.errors)
        text += "; chain intact" if not problems else f"; {problems} integrity problem(s)"
    return text
