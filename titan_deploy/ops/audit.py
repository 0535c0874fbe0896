"""`audit-logs`: look for every secret value, raw and encoded, wherever a leak can hide
(ARCHITECTURE.md invariant 1).

Where: each container's logs (stdout+stderr, `--since/--until`, `--service`), each container's
config (env, command, entrypoint, labels, healthcheck), and the history and config of each
consumer's image (a value baked in with ENV/ARG/RUN); or, with `--file`, any log file. What: every
value on disk — current and every rotation version — in every encoding of `core.leaks`. How: one
pass per source with the multi-pattern matcher, logs of all containers read concurrently, memory
bounded whatever the size. The report names service, container, timestamp, line and encoding,
never the value; it also counts `[MASKED]` lines per service, as evidence masking is in place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from titan_deploy.core.fileread import UnsafeFile
from titan_deploy.core.findings import Finding, Report, error, warning
from titan_deploy.core.leaks import (
    MIN_SECRET_LENGTH,
    PatternSet,
    SearchContext,
    build_patterns,
    group_by_secret,
    search_context,
)
from titan_deploy.core.timespec import parse_when
from titan_deploy.core.versions import owner
from titan_deploy.errors import ConfigError, TitanError, UsageError
from titan_deploy.io.logscan import LeakHit, ScanResult, scan_file, scan_lines
from titan_deploy.ops.stack import Backends, read_secret_values
from titan_deploy.project import Project

if TYPE_CHECKING:  # the engine's modules load only for a stack, never for --file (issue 15)
    from titan_deploy.core.containers import ContainerInfo
    from titan_deploy.io.engine import Engine

ROW_COLUMNS = ["service", "source", "lines", "masked_lines", "leaks"]
WORKERS = 8


@dataclass(frozen=True)
class Scanned:
    """One scanned source: which service/container it belongs to, what kind, and the result."""

    service: str
    container: str
    kind: str  # logs | inspect | image | file
    result: ScanResult
    file: str | None = None  # a --file log as a finding's `file`: project-relative, else absolute


def patterns_for(project: Project) -> PatternSet:
    """Every value on disk, grouped by secret (`name.vN` versions count as `name`), searched in
    the stack's context (weak values as whole tokens, never inside the tool's own strings)."""
    return _patterns(read_secret_values(project)[0], project)


def _patterns(values: dict[str, bytes], project: Project, offline: bool = False) -> PatternSet:
    manifest = project.manifest
    grouped = group_by_secret(values, manifest.secrets, skip=manifest.insensitive)
    if manifest.configs:  # the values inside rendered config files (README "Config files")
        from titan_deploy.ops.configs import values_in_configs

        for secret, found in values_in_configs(project, values).items():
            mine = grouped.setdefault(secret, [])
            mine += [v for v in found if v not in mine]
    if not grouped:
        raise ConfigError(
            f"no secret values under {project.secrets_dir}: nothing to search for "
            "(run `titan-deploy init` or point --secrets-dir at the store)"
        )
    return build_patterns(grouped, context=context_for(project, offline))


def context_for(project: Project, offline: bool = False) -> SearchContext:
    """The names and rendered strings of this project (`core.leaks.search_context`).
    `offline` (audit-logs --file: no stack involved): the project name by Compose's rule
    (`Project.rule_name`), without running Compose (a subprocess that costs more than
    scanning 100 MB)."""
    manifest = project.manifest
    try:
        projects = [project.rule_name if offline else project.name]
    except TitanError:  # an unreadable compose file: nothing to add
        projects = []
    rel = Path(project.secrets_dir_option or manifest.secrets_dir).as_posix()
    paths = [rel, f"./{rel}", str(project.secrets_dir)]
    return search_context(manifest.secrets, manifest.services, projects, paths)


def run_audit(
    project: Project,
    backends: Backends,
    files: list[Path] | None = None,
    services: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Report:
    """Search every value on disk in the stack's logs, container configs and images (or in
    `files` only: no engine then). UsageError (exit 2) for a bad option, EngineUnreachable (3)."""
    values, unread = read_secret_values(project)
    patterns = _patterns(values, project, offline=bool(files))
    report = search(project, backends, patterns, files, services, since, until)
    report.findings += _unread(unread, project.manifest.secrets)
    return report


def search(
    project: Project,
    backends: Backends,
    patterns: PatternSet,
    files: list[Path] | None,
    services: list[str] | None,
    since: str | None,
    until: str | None,
) -> Report:
    """The leak report of `patterns` in `files` (no engine then), else in the stack's logs,
    container configs and images; the local path's and the agent path's values (ops/
    agent_audit.py) are searched the same way. UsageError (2), EngineUnreachable (3)."""
    if files:
        scanned = [_scan_path(path, patterns, project) for path in files]
    else:
        scanned = _scan_stack(project, backends, patterns, services or [], since, until)
    return _report(scanned, patterns)


def _scan_path(path: Path, patterns: PatternSet, project: Project) -> Scanned:
    """One log file: a regular file only (a FIFO or /dev/zero is refused before it is opened
    for reading, so it can neither block nor stream forever), scanned in bounded memory."""
    try:
        result = scan_file(path, patterns, source=str(path), timestamps=True)
    except UnsafeFile as exc:
        raise UsageError(f"--file {path}: {exc.reason}: refused") from None
    except OSError as exc:
        raise UsageError(f"--file {path}: not a readable file ({exc.strerror})") from None
    return Scanned("-", str(path), "file", result, file=_as_finding_file(path, project))


def _as_finding_file(path: Path, project: Project) -> str:
    """A `--file` path (as given: relative to the working dir) as Finding.file says files are
    named: relative to the project dir when inside it, else absolute (SARIF's PROJECTROOT)."""
    full = Path(os.path.abspath(path))
    return (
        str(full.relative_to(project.project_dir))
        if full.is_relative_to(project.project_dir)
        else str(full)
    )


def _unread(unread: dict[str, str], names: Collection[str]) -> list[Finding]:
    return [
        warning(
            "A004",
            f"{entry} (secrets dir) not searched: it {why} (check-secrets reports it)",
            secret=owner(entry, names) or entry,
            fix="titan-deploy check-secrets",
        )
        for entry, why in sorted(unread.items())
    ]


def _scan_stack(
    project: Project,
    backends: Backends,
    patterns: PatternSet,
    services: list[str],
    since: str | None,
    until: str | None,
) -> list[Scanned]:
    now = time.time()
    since_ts = parse_when(since, now, "--since") if since else None
    until_ts = parse_when(until, now, "--until") if until else None
    engine = backends.engine()  # after the options: a bad --since is exit 2 without an engine
    containers = engine.containers(project.name)
    if services:
        unknown = sorted(set(services) - {c.service for c in containers})
        if unknown:
            raise UsageError(f"--service {', '.join(unknown)}: no such service in the stack")
        containers = [c for c in containers if c.service in services]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        logs = list(
            pool.map(lambda c: _scan_logs(engine, c, patterns, since_ts, until_ts), containers)
        )
    configs = [_scan_config(c, patterns) for c in containers]
    from titan_deploy.ops.render import current_plan

    consumers = {svc.service for svc in current_plan(project).services}
    images = _scan_images(engine, [c for c in containers if c.service in consumers], patterns)
    return logs + configs + images


def _scan_logs(engine: Engine, info: ContainerInfo, patterns, since, until) -> Scanned:
    stream = engine.logs(info.id, since=since, until=until, timestamps=True)
    result = scan_lines(stream, patterns, source=f"{info.name} logs", timestamps=True)
    return Scanned(info.service, info.name, "logs", result)


def _scan_config(info: ContainerInfo, patterns: PatternSet) -> Scanned:
    lines = [f"env {k}={v}" for k, v in info.env.items()]
    lines += [f"command {arg}" for arg in info.command]
    lines += [f"label {k}={v}" for k, v in info.labels.items()]
    lines += [f"healthcheck {arg}" for arg in info.healthcheck]
    result = scan_lines(_as_lines(lines), patterns, source=f"{info.name} inspect")
    return Scanned(info.service, info.name, "inspect", result)


def _scan_images(engine: Engine, containers: list[ContainerInfo], patterns) -> list[Scanned]:
    out = []
    seen: set[str] = set()
    for info in containers:
        if info.image in seen:
            continue
        seen.add(info.image)
        lines = engine.image_history_lines(info.image)
        result = scan_lines(_as_lines(lines), patterns, source=f"image {info.image}")
        out.append(Scanned(info.service, info.image, "image", result))
    return out


def _as_lines(lines: Iterable[str]) -> Iterable[bytes]:
    return (line.replace("\n", " ").encode("utf-8", "replace") + b"\n" for line in lines)


def _report(scanned: list[Scanned], patterns: PatternSet) -> Report:
    report = Report("audit-logs", columns=ROW_COLUMNS)
    hits: list[dict] = []
    for item in scanned:
        for hit in item.result.hits:
            hits.append(_hit_row(item, hit))
            report.findings.append(_hit_finding(item, hit))
        if item.result.dropped_hits:
            report.findings.append(
                error(
                    "A002",
                    f"{item.container} {item.kind}: {item.result.dropped_hits} more hits unlisted",
                    service=_service(item),
                    file=item.file,
                )
            )
    report.findings += _skipped(patterns)
    report.rows = _rows(scanned)
    masked = {row["service"]: row["masked_lines"] for row in report.rows if row["source"] == "logs"}
    report.data = {
        "hits": hits,
        "masked_lines": masked,
        "sources": len(scanned),
        "bytes": sum(s.result.bytes for s in scanned),
        "patterns": len(patterns.patterns),
        "matcher": patterns.matcher.backend,
        "secrets_searched": list(patterns.secrets),
        "secrets_skipped": list(patterns.skipped),
        "secrets_weak": list(patterns.weak),
    }
    leaks = len(hits) + sum(s.result.dropped_hits for s in scanned)
    report.summary = (
        f"no secret value found in {len(scanned)} sources "
        f"({report.data['bytes']} bytes, {len(patterns.patterns)} patterns)"
        if not leaks
        else f"{leaks} LEAK(S) found in {len({h['container'] for h in hits})} source(s)"
    )
    return report


def _hit_row(item: Scanned, hit: LeakHit) -> dict:
    return {
        "service": item.service,
        "container": item.container,
        "source": item.kind,
        "timestamp": hit.timestamp,
        "line": hit.line_no,
        "secret": hit.secret,
        "encoding": hit.encoding,
    }


def _service(item: Scanned) -> str | None:
    """The finding's service; None for a `--file` log (its file is the finding's location, not
    a service named "-")."""
    return None if item.kind == "file" else item.service


def _hit_finding(item: Scanned, hit: LeakHit) -> Finding:
    when = f" at {hit.timestamp}" if hit.timestamp else ""
    return error(
        "A001",
        f"{item.container} {item.kind} line {hit.line_no}{when}: value of {hit.secret} "
        f"({hit.encoding})",
        service=_service(item),
        secret=hit.secret,
        fix="rotate the secret; find and fix what logged it",
        # a --file log: where the hit is, for SARIF's location (README "SARIF")
        file=item.file,
        line=hit.line_no if item.file is not None else None,
    )


def _skipped(patterns: PatternSet) -> list[Finding]:
    skipped = [
        warning(
            "A003",
            f"{name} not searched: no part of its value is {MIN_SECRET_LENGTH} characters or "
            "more (too many false hits)",
            secret=name,
        )
        for name in patterns.skipped
    ]
    weak = [
        warning(
            "A005",
            f"{name} has a weak value: searched only as a whole word, so a leak inside a longer "
            "word goes unseen",
            secret=name,
            fix="replace the value with a strong one (see `titan-deploy check-secrets`)",
        )
        for name in patterns.weak
    ]
    return skipped + weak


def _rows(scanned: list[Scanned]) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for item in scanned:
        row = rows.setdefault(
            (item.service, item.kind),
            {
                "service": item.service,
                "source": item.kind,
                "lines": 0,
                "masked_lines": 0,
                "leaks": 0,
            },
        )
        row["lines"] += item.result.lines
        row["masked_lines"] += item.result.masked_lines
        row["leaks"] += len(item.result.hits) + item.result.dropped_hits
    return sorted(rows.values(), key=lambda r: (r["service"], r["source"]))
