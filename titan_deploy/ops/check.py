"""`check-secrets`: the preflight of DESIGN §6, with `--fix` for the mechanical fixes only.

Also the edits that will never apply (core/drift.py): a base file edited after a rotation moved
its consumers to a version (D001), the database password edited after postgres initialised its
volume (D002). `up` runs this first, so it stops before deploying either.
"""

from __future__ import annotations

import os
from pathlib import Path

from titan_deploy.core.checks import VERSION_RE, CheckResult, check_store
from titan_deploy.core.findings import Finding, Report
from titan_deploy.io import fs
from titan_deploy.project import Project


def inspect_store(project: Project) -> CheckResult:
    """Run every check; the result keeps values (for verify), the report never shows them."""
    secrets_dir = project.secrets_dir
    git = fs.git_facts(project.project_dir, secrets_dir) if secrets_dir.is_dir() else None
    return check_store(
        project.manifest, secrets_dir, project.example_dir, git, label=_label(project)
    )


def run_check(project: Project, fix: bool = False) -> Report:
    result = inspect_store(project)
    applied = []
    if fix and result.fixes:
        for item in result.fixes:
            fs.apply_fix(item)
            applied.append({"action": item.action, "path": str(item.path)})
        result = inspect_store(project)
    report = Report("check-secrets", findings=[*result.findings, *unapplied_edits(project)])
    report.data = {"fixed": applied, "secrets": len(project.manifest.secrets)}
    fixable = len(result.fixes)
    report.summary = _summary(report, len(applied), fixable)
    return report


def unapplied_edits(project: Project) -> list[Finding]:
    """D001/D002 findings from the journal, the deploy record and the files (no engine).

    Secrets of a rotation in flight are skipped: their files legitimately differ mid-way.
    Without a state dir (no rotation, no recorded `up`) there is nothing to compare, and the
    rotation code is not even imported: check-secrets starts fast."""
    if not project.state_dir.is_dir():
        return []
    from titan_deploy.core import drift
    from titan_deploy.io import deployed as deployed_io
    from titan_deploy.io import journal as journal_io

    journal = journal_io.load(project)
    skip = journal.active.secrets if journal.active else ()
    return drift.unapplied_edits(
        project.manifest,
        journal.assignments,
        secret_files(project),
        deployed_io.load(project),
        label=_label(project),
        skip=skip,
    )


def secret_files(project: Project) -> dict[str, bytes]:
    """Trimmed content of every manifest secret's base and version files, by file name."""
    out: dict[str, bytes] = {}
    directory = project.secrets_dir
    if not directory.is_dir():
        return out
    for entry in sorted(os.listdir(directory)):
        match = VERSION_RE.match(entry)
        name = match["name"] if match else entry
        path = Path(directory, entry)
        if name in project.manifest.secrets and path.is_file():
            out[entry] = path.read_bytes().strip()
    return out


def _summary(report: Report, applied: int, fixable: int) -> str:
    parts = [f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"]
    if applied:
        parts.append(f"{applied} fix(es) applied")
    elif fixable:
        parts.append(f"{fixable} fixable with --fix")
    verdict = "secrets ready" if report.ok else "secrets NOT ready"
    return f"{verdict}: " + ", ".join(parts)


def _label(project: Project) -> str:
    try:
        return str(project.secrets_dir.relative_to(project.project_dir))
    except ValueError:
        return str(project.secrets_dir)
