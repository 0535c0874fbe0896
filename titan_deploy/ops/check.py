"""`check-secrets`: the preflight (README "What `check-secrets` checks"), with `--fix` for the
mechanical fixes only.

`--fix` changes only what the tool owns (issue 9.2): the secrets dir and its regular,
single-link files, reached without following a symlink (io/fs.apply_fix). It never touches a
file a container bind-mounts (ARCHITECTURE.md invariant 2: a mounted secret file is never
modified):
when a Docker engine answers, it is asked which containers mount each file first; such a file is
skipped with a warning saying why and what to do instead. Without an engine nothing can be
mounted by a running container on this host's engine, and the fixes proceed.

Also the edits that will never apply (core/drift.py): a base file edited after a rotation moved
its consumers to a version (D001), the database password edited after postgres initialised its
volume (D002). `up` runs this first, so it stops before deploying either.
"""

from __future__ import annotations

import datetime
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from titan_deploy.core.checks import CheckResult, Fix, check_store
from titan_deploy.core.findings import Finding, Report, warning
from titan_deploy.core.waivers import apply_waivers
from titan_deploy.errors import EngineUnreachable, TitanError
from titan_deploy.io import fs, gitfiles
from titan_deploy.project import Project

if TYPE_CHECKING:
    from titan_deploy.core.secretage import SecretAge
    from titan_deploy.ops.config_check import ConfigCheck


class MountOracle(Protocol):
    """What --fix needs from the engine (io.engine.Engine has it)."""

    def mounts_of(self, sources: list[str]) -> dict[str, list[str]]: ...


def inspect_store(project: Project) -> CheckResult:
    """Run every check; the result keeps values (for verify), the report never shows them."""
    secrets_dir = project.secrets_dir
    git = gitfiles.git_facts(project.project_dir, secrets_dir) if secrets_dir.is_dir() else None
    return check_store(
        project.manifest,
        secrets_dir,
        project.example_dir,
        git,
        label=_label(project, secrets_dir),
        example_label=_label(project, project.example_dir),
        names=_project_names(project),
        mounted=mounted_versions(project),
    )


def mounted_versions(project: Project) -> dict[str, set[int]]:
    """Secret -> the versions (current and secondary) its consumers mount, per the journal's
    assignments; {} without a state dir or a readable journal."""
    if not project.state_dir.is_dir():
        return {}
    from titan_deploy.io import journal as journal_io

    try:
        assignments = journal_io.load(project).assignments
    except TitanError:
        return {}  # a broken journal is reported by the commands that need it
    out: dict[str, set[int]] = {}
    for secret, by_service in assignments.items():
        for a in by_service.values():
            out.setdefault(secret, set()).update(
                v for v in (a.version, a.secondary) if v is not None
            )
    return out


def _project_names(project: Project) -> tuple[str, ...]:
    """The compose project's name (a value equal to it is weak); none if it cannot be told.
    By Compose's rule without running it (check-secrets runs no subprocess)."""
    try:
        return (project.rule_name,)
    except TitanError:  # an unreadable compose file: lint and render report it
        return ()


def run_check(
    project: Project,
    fix: bool = False,
    engine: Callable[[], MountOracle] | None = None,
) -> Report:
    """Check the store; with `fix`, apply the safe fixes, then check again.

    `engine`: a factory of the mount oracle (default: connect to the Docker engine); it may
    raise EngineUnreachable, then no file counts as mounted."""
    configs = None if fix else _start_config_check(project)  # runs beside the other checks
    try:
        result = inspect_store(project)
        applied: list[dict[str, str]] = []
        notes: list[Finding] = []
        if fix and result.fixes:
            applied, notes = _apply_fixes(project, result.fixes, engine or _connect)
            result = inspect_store(project)
        configs = configs or _start_config_check(project)  # after the fixes, with --fix
        report = Report("check-secrets", findings=[])
        report.data = {"fixed": applied, "secrets": len(project.manifest.secrets)}
        if notes:
            report.data["not_fixed"] = [n.message for n in notes]
        hygiene(project, report)  # secret age (S024, data.ages), .env values (S025), tracked (S026)
        report.findings += configs.findings() if configs else []  # S027/S028
    finally:
        if configs:
            configs.close()
    findings = waived(project, [*result.findings, *notes, *report.findings], "S")
    report.findings = [*findings, *unapplied_edits(project)]
    fixable = len(result.fixes)
    report.summary = _summary(report, len(applied), fixable)
    return report


def _start_config_check(project: Project) -> ConfigCheck | None:
    """The configs' check (README "Config files"), started; None without configs (Jinja and the
    bounded child only then)."""
    if not project.manifest.configs:
        return None
    from titan_deploy.ops import config_check

    return config_check.start(project, _label(project, project.secrets_dir))


def _apply_fixes(
    project: Project, fixes: list[Fix], engine: Callable[[], MountOracle]
) -> tuple[list[dict[str, str]], list[Finding]]:
    mounted = _mounted(fixes, engine)
    applied: list[dict[str, str]] = []
    notes: list[Finding] = []
    for item in fixes:
        shown = _shown(project, item)
        holders = mounted.get(str(item.path)) or mounted.get(os.path.realpath(item.path))
        if holders:
            notes.append(_mounted_note(shown, item, holders))
            continue
        try:
            fs.apply_fix(item, root=project.secrets_root)
        except (fs.UnsafePath, fs.UnsafeFile) as exc:
            notes.append(
                warning(
                    "S022",
                    f"{shown}: {item.action} not applied: {_reason(exc, item)}",
                    fix="fix it by hand once the finding above is resolved",
                )
            )
            continue
        applied.append({"action": item.action, "path": str(item.path)})
    return applied, notes


def _mounted(fixes: list[Fix], engine: Callable[[], MountOracle]) -> dict[str, list[str]]:
    """Host path -> containers bind-mounting it ({} when no engine answers)."""
    paths = sorted({p for f in fixes for p in (str(f.path), os.path.realpath(f.path))})
    try:
        return engine().mounts_of(paths)
    except EngineUnreachable:
        return {}


def _connect() -> MountOracle:
    from titan_deploy.io import engine as engine_io

    return engine_io.connect(timeout=10)


def _mounted_note(shown: str, item: Fix, holders: list[str]) -> Finding:
    names = ", ".join(sorted(set(holders)))
    return warning(
        "S021",
        f"{shown}: {item.action} not applied: bind-mounted by container(s) {names}; a "
        "mounted secret file is never modified",
        fix="stop its consumers (`titan-deploy down`), run `check-secrets --fix`, then "
        "`titan-deploy up`; or rotate the secret (a rotation writes a new, correct file)",
    )


def _reason(exc: Exception, item: Fix) -> str:
    text = str(exc)
    prefix = str(item.path)
    return text[len(prefix) :].lstrip() if text.startswith(prefix) else text


def _shown(project: Project, item: Fix) -> str:
    try:
        return str(item.path.relative_to(project.project_dir))
    except ValueError:
        return str(item.path)


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
        label=_label(project, project.secrets_dir),
        skip=skip,
    )


def secret_files(project: Project) -> dict[str, bytes]:
    """Trimmed content of every manifest secret's base and version files, by file name (read
    bounded; see ops.stack.read_secret_values)."""
    from titan_deploy.ops.stack import read_secret_values

    return read_secret_values(project)[0]


def waived(project: Project, findings: list[Finding], family: str) -> list[Finding]:
    """`findings` with the manifest's waivers of `family` ("S" check-secrets, "L" lint)
    applied as of today's local date (README "Waivers", core/waivers.py)."""
    manifest = project.manifest
    if not manifest.waivers:
        return findings
    shown = str(project.manifest_option)
    return apply_waivers(findings, manifest.waivers, family, datetime.date.today(), shown)


def counted(report: Report) -> str:
    """`N error(s), M warning(s)` and, when a waiver accepted some, `, K waived`."""
    text = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    return text + (f", {len(report.waived)} waived" if report.waived else "")


def _summary(report: Report, applied: int, fixable: int) -> str:
    parts = [counted(report)]
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


# --- secret age and .env hygiene (README "What `check-secrets` checks") -----------------------


def hygiene(project: Project, report: Report) -> list[SecretAge]:
    """Add the age findings and `data.ages` (add_ages), and the .env findings, to `report`;
    returns the ages."""
    ages = add_ages(project, report)
    report.findings.extend(env_findings(project))
    return ages


def add_ages(project: Project, report: Report) -> list[SecretAge]:
    """Add a warning (S024) per secret older than its max_age_days and `data.ages` (each
    secret's age_days) to `report` (check-secrets and status); returns the ages."""
    from titan_deploy.core.secretage import age_findings

    ages = secret_ages(project)
    report.findings.extend(age_findings(ages, _label(project, project.secrets_dir)))
    report.data["ages"] = [a.to_dict() for a in ages]
    return ages


def secret_ages(project: Project, now: float | None = None) -> list[SecretAge]:
    """Each manifest secret's age: the mtime of its current file (the version the journal
    assigns, else the base file; core/secretage.py says why that is the truthful source).
    A secret without a regular file has no age (check_store reports the file)."""
    from titan_deploy.core.secretage import SecretAge, age_days, current_version
    from titan_deploy.core.versions import file_name

    assignments: dict = {}
    if project.state_dir.is_dir():
        from titan_deploy.io import journal as journal_io

        assignments = dict(journal_io.load(project).assignments)
    clock = time.time() if now is None else now
    out = []
    for spec in project.manifest.secrets.values():
        version = current_version(assignments, spec.name)
        for name in dict.fromkeys([file_name(spec.file_name, version), spec.file_name]):
            try:
                st = os.lstat(project.secrets_dir / name)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                days = age_days(st.st_mtime, clock)
                out.append(SecretAge(spec.name, name, days, spec.max_age_days))
                break
    return out


def env_findings(project: Project) -> list[Finding]:
    """S025 for each `.env`/`.env.*` line whose value equals a production secret, S026 for each
    such file git tracks (skipped without git or a repository)."""
    from titan_deploy.core import envhygiene
    from titan_deploy.io import envfiles

    paths = envfiles.find(project.project_dir, {project.secrets_dir, project.state_dir})
    if not paths:
        return []
    manifest = project.manifest
    prod = envhygiene.digests(secret_files(project), manifest.secrets, manifest.insensitive)
    findings: list[Finding] = []
    for path in paths:
        shown = _label(project, path)
        text = envfiles.read_text(path) if prod else None
        for reuse in envhygiene.reused(text or "", prod):
            findings.append(envhygiene.reuse_finding(shown, reuse))
    untemplated = [p for p in paths if not envhygiene.is_template(p.name)]
    for path in sorted(envfiles.git_tracked(project.project_dir, untemplated)):
        findings.append(envhygiene.tracked_finding(_label(project, path)))
    return findings


def oldest(ages: list[SecretAge]) -> str:
    """`; oldest secret: NAME, N day(s)` for a summary line ("" without any age)."""
    from titan_deploy.core.secretage import oldest_text

    text = oldest_text(ages)
    return f"; {text}" if text else ""
