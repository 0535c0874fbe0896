"""`check-secrets`: the preflight of DESIGN §6, with `--fix` for the mechanical fixes only."""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.checks import CheckResult, check_store
from titan_deploy.core.findings import Report
from titan_deploy.errors import TitanError
from titan_deploy.io import fs
from titan_deploy.project import Project


def inspect_store(project: Project) -> CheckResult:
    """Run every check; the result keeps values (for verify), the report never shows them."""
    secrets_dir = project.secrets_dir
    git = fs.git_facts(project.project_dir, secrets_dir) if secrets_dir.is_dir() else None
    return check_store(
        project.manifest,
        secrets_dir,
        project.example_dir,
        git,
        label=_label(project, secrets_dir),
        example_label=_label(project, project.example_dir),
        names=_project_names(project),
    )


def _project_names(project: Project) -> tuple[str, ...]:
    """The compose project's name (a value equal to it is weak); none if it cannot be told."""
    from titan_deploy.ops.stack import project_name

    try:
        return (project_name(project),)
    except TitanError:  # an unreadable compose file: lint and render report it
        return ()


def run_check(project: Project, fix: bool = False) -> Report:
    result = inspect_store(project)
    applied = []
    if fix and result.fixes:
        for item in result.fixes:
            fs.apply_fix(item)
            applied.append({"action": item.action, "path": str(item.path)})
        result = inspect_store(project)
    report = Report("check-secrets", findings=result.findings)
    report.data = {"fixed": applied, "secrets": len(project.manifest.secrets)}
    fixable = len(result.fixes)
    report.summary = _summary(report, len(applied), fixable)
    return report


def _summary(report: Report, applied: int, fixable: int) -> str:
    parts = [f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"]
    if applied:
        parts.append(f"{applied} fix(es) applied")
    elif fixable:
        parts.append(f"{fixable} fixable with --fix")
    verdict = "secrets ready" if report.ok else "secrets NOT ready"
    return f"{verdict}: " + ", ".join(parts)


def _label(project: Project, path: Path) -> str:
    """`path` as hints show it: relative to the project dir when inside it."""
    try:
        return str(path.relative_to(project.project_dir))
    except ValueError:
        return str(path)
