"""`up`: check-secrets -> render -> lint -> `compose up -d --wait` -> verify (ARCHITECTURE.md "Data
flow of `up`").

Stops at the first failing stage. The report carries the findings of EVERY stage that ran,
warnings included, each stamped with its stage (`stage` in JSON, a column in the table): a
warning of check-secrets or lint is never dropped because a later stage ran. Exit code as for
any report: errors fail, warnings alone do not. Progress (stage by stage, and each service's
state while compose waits) goes to the `progress` callback — stderr in the CLI — never stdout.

An edited `restart` secret outside an exchange group is applied: when verify finds consumers
holding an old value of one (core/drift.recreatable), `up` force-recreates exactly those and
verifies again; the report names them (`data.recreated`, the summary). Any other kind of secret
is left to its rotate command, which verify's finding names (a recreate would break an HMAC key,
a database password or an exchange key pair's proof).

Refused (exit 3) while a rotation is in flight or running: the journal then describes a half-done
state that `rotate resume` or `rotate abort` must settle first. An HMAC phase 1 awaiting phase 2
is not in flight: `up` renders that state. After a verified `up` the deploy record
(io/deployed.py) takes the database password's digest, so a later edit of it is caught (D002).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from titan_deploy.core import drift
from titan_deploy.core.containers import ContainerInfo, state_label
from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.rotation.journal import Journal, iso
from titan_deploy.core.rotation.steps import spec_files
from titan_deploy.errors import ComposeError, RuntimeFailure, TitanError
from titan_deploy.io import deployed as deployed_io
from titan_deploy.io import journal as journal_io
from titan_deploy.io.compose import Compose
from titan_deploy.io.engine import Engine
from titan_deploy.ops.check import run_check, secret_files
from titan_deploy.ops.lint import run_lint
from titan_deploy.ops.render import base_documents, run_render
from titan_deploy.ops.stack import Backends, checked_files
from titan_deploy.ops.verify import select_active, verify_report
from titan_deploy.project import Project

Progress = Callable[[str], None]


class RotationInFlight(RuntimeFailure):
    """`up` refused: a rotation is running or was interrupted (exit 3)."""


def run_up(
    project: Project,
    backends: Backends,
    timeout: int = 300,
    progress: Progress = lambda _: None,
    build: bool = False,
) -> Report:
    """Deploy and verify the stack; a Report with every stage's findings (stage-stamped).
    `backends`: the engine and compose to deploy with (the engine is connected after lint);
    `build`: compose builds the images of services with `build:` first (`up --build`).

    Raises RotationInFlight (exit 3) while a rotation is in flight, ComposeError (exit 3) when
    compose fails, EngineUnreachable (exit 3) without an engine."""
    refuse_if_rotating(project)
    stages: list[dict] = []
    found: list[Finding] = []
    checked = None
    steps: list[tuple[str, Callable[[], Report]]] = [
        ("check-secrets", lambda: run_check(project)),
        ("render", lambda: run_render(project, compose_for=backends.compose)),
        ("lint", lambda: run_lint(project, backends.compose)),
    ]
    for name, stage in steps:
        report = _stage(name, stage, stages, progress)
        found += staged(report.findings, name)
        if not report.ok:
            return _result(report, found, stages, f"up stopped at {name}: {report.summary}")
        if checked is None:  # what check-secrets passed: verify proves it is what got deployed
            checked = checked_files(project)
    try:
        engine = backends.engine()
        runner = backends.compose(project.project_dir, project.all_compose_files(), project.name)
        built = built_services(project)
        if build and built:
            progress(f"compose up --build: building the images of {', '.join(built)} first")
        _compose_up(project.name, engine, runner, timeout, stages, progress, build, built)
        plan, inactive = select_active(project, backends.compose)
        report = _stage(
            "verify",
            lambda: verify_report(project, engine, plan=plan, checked=checked, inactive=inactive),
            stages,
            progress,
        )
        recreated = drift.recreatable(project.manifest, report.findings)
        if recreated:
            _recreate(project, engine, runner, recreated, timeout, stages, progress)
            report = _stage(
                "verify", lambda: verify_report(project, engine, checked=checked), stages, progress
            )
    except TitanError:  # exit 3 prints one error line: the findings so far go to progress
        for finding in found:
            progress(describe(finding))
        raise
    found += staged(report.findings, "verify")
    applied = _applied(recreated)
    if recreated:
        report.data["recreated"] = {service: list(s) for service, s in recreated.items()}
    if not report.ok:
        return _result(report, found, stages, f"up stopped at verify: {report.summary}{applied}")
    _record_deployed(project, report)
    return _result(report, found, stages, f"stack up and verified: {report.summary}{applied}")


def _recreate(
    project: Project,
    engine: Engine,
    runner: Compose,
    stale: dict[str, tuple[str, ...]],
    timeout: int,
    stages: list[dict],
    progress: Progress,
) -> None:
    """Apply edited `restart` secrets: force-recreate the consumers verify found holding an old
    value (core/drift.recreatable: service -> secrets), waiting up to `timeout` seconds for them
    to be healthy. ComposeError (exit 3) when compose fails."""
    services = list(stale)
    progress(f"recreate {_what(stale)}: a secret file changed (compose recreates nothing for that)")
    started = time.monotonic()
    watcher = _ServiceWatcher(engine, project.name, progress)
    try:
        runner.recreate(timeout, services, on_tick=watcher)
    except ComposeError:
        stages.append({"stage": "recreate", "ok": False, "seconds": _since(started)})
        raise
    stages.append(
        {"stage": "recreate", "ok": True, "seconds": _since(started), "services": services}
    )
    progress(f"recreate: ok ({_since(started):.1f}s)")


def _what(stale: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(f"{service} ({', '.join(secrets)})" for service, secrets in stale.items())


def _applied(stale: dict[str, tuple[str, ...]]) -> str:
    """The summary's note on the consumers `up` recreated to apply edited secrets."""
    return f"; recreated {_what(stale)} to apply the edited secret file(s)" if stale else ""


def built_services(project: Project) -> tuple[str, ...]:
    """The services whose base definition has `build:` (includes followed)."""
    names: dict[str, None] = {}
    for doc in base_documents(project):
        services = doc.get("services") if isinstance(doc, dict) else None
        for name, body in services.items() if isinstance(services, dict) else ():
            if isinstance(body, dict) and body.get("build") is not None:
                names[str(name)] = None
    return tuple(names)


def refuse_if_rotating(project: Project) -> None:
    """RotationInFlight (exit 3) if a rotation holds the lock or the journal has one in flight."""
    holder = journal_io.read_holder(journal_io.lock_path(project))
    if holder is not None and holder.alive:
        raise RotationInFlight(
            f"a rotation is running (pid {holder.pid}, `{holder.command}`, since "
            f"{holder.started_at}): wait for it to finish, then run `titan-deploy up`"
        )
    message = in_flight_message(journal_io.load(project))
    if message:
        raise RotationInFlight(message)


def in_flight_message(journal: Journal) -> str | None:
    """Why `up` must not run on this journal, None if it may (an HMAC phase 1 awaiting phase 2
    is settled: every consumer runs a consistent state that `up` renders as is)."""
    from titan_deploy.ops.rotate.session import describe_active

    active = journal.active
    if active is None:
        return None
    index = active.in_progress if active.in_progress is not None else active.done
    step = ""
    if index < len(active.steps):
        shown = active.steps[index].describe(spec_files(active.specs))
        step = f"; step {index + 1}: {shown}"
    return (
        f"a rotation is in flight: {describe_active(active)}{step}. `up` would deploy its "
        "half-done state: run `titan-deploy rotate resume` to finish it or `titan-deploy rotate "
        "abort` to undo it (`titan-deploy rotate status` shows it)"
    )


def staged(findings: list[Finding], stage: str) -> list[Finding]:
    """The findings, each stamped with the stage that found it."""
    return [replace(f, stage=stage) for f in findings]


def describe(finding: Finding) -> str:
    """One progress line for a finding: `stage: severity CODE where: message`."""
    where = " / ".join(x for x in (finding.service, finding.secret) if x)
    return (
        f"{finding.stage}: {finding.severity} {finding.code}"
        f"{' ' + where if where else ''}: {finding.message}"
    )


def _result(report: Report, found: list[Finding], stages: list[dict], summary: str) -> Report:
    """`up`'s report: the last stage's rows and data, every stage's findings."""
    out = Report(
        "up",
        findings=found,
        rows=report.rows,
        columns=report.columns,
        data={**report.data, "stages": stages},
        failed=not report.ok,
    )
    warnings = [f for f in found if f.severity == "warning" and f.waived is None]
    if warnings:
        where = ", ".join(dict.fromkeys(str(f.stage) for f in warnings))
        summary += f" ({len(warnings)} warning(s) from {where})"
    out.summary = summary
    return out


def _stage(name: str, fn: Callable[[], Report], stages: list[dict], progress: Progress) -> Report:
    progress(f"{name} ...")
    started = time.monotonic()
    report = fn()
    seconds = round(time.monotonic() - started, 2)
    errors, warnings = len(report.errors), len(report.warnings)
    stages.append(
        {
            "stage": name,
            "ok": report.ok,
            "seconds": seconds,
            "errors": errors,
            "warnings": warnings,
        }
    )
    counts = f", {errors} error(s), {warnings} warning(s)" if errors or warnings else ""
    progress(f"{name}: {'ok' if report.ok else 'FAILED'} ({seconds:.1f}s{counts})")
    return report


def _record_deployed(project: Project, verify: Report) -> None:
    """Record the digest of each provisioned secret verify found no error for (D002)."""
    manifest = project.manifest
    names = [s.name for s in drift.provisioned(manifest)]
    failed = {f.secret for f in verify.errors}
    verified = [n for n in names if n not in failed]
    if not verified:
        return
    record = drift.record_deployed(
        manifest,
        journal_io.load_overlay_state(project),
        secret_files(project),
        deployed_io.load_or_new(project),
        verified,
        at=iso(_now()),
    )
    deployed_io.save(project, record)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _compose_up(
    name: str,
    engine: Engine,
    runner: Compose,
    timeout: int,
    stages: list[dict],
    progress: Progress,
    build: bool = False,
    built: tuple[str, ...] = (),
) -> None:
    progress(f"compose up (waiting up to {timeout}s for every service to be healthy) ...")
    started = time.monotonic()
    watcher = _ServiceWatcher(engine, name, progress)
    try:
        if build:
            runner.up(timeout, on_tick=watcher, build=True)
        else:
            runner.up(timeout, on_tick=watcher)
    except ComposeError as exc:
        failing = describe_failing(engine.containers(name))
        stages.append({"stage": "compose up", "ok": False, "seconds": _since(started)})
        if failing:
            exc.message = f"{exc.message}; failing: {failing}"
        if built and not build:
            hint = "`titan-deploy up --build` builds them"
            exc.message += f" ({', '.join(built)} have `build:`: {hint})"
        exc.args = (exc.message,)
        raise
    watcher()
    stages.append({"stage": "compose up", "ok": True, "seconds": _since(started)})
    progress(f"compose up: ok ({_since(started):.1f}s)")


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def describe_failing(containers: list[ContainerInfo]) -> str:
    """'svc (restarting, exit 1), ...' for containers that are not running and healthy."""
    bad = []
    for info in containers:
        if info.restarting or info.status in ("exited", "dead") or info.health == "unhealthy":
            bad.append(f"{info.service} ({state_label(info)}, exit {info.exit_code})")
    return ", ".join(dict.fromkeys(bad))


class _ServiceWatcher:
    """Called once a second while compose waits: prints each service's state when it changes."""

    def __init__(self, engine: Engine, project: str, progress: Progress) -> None:
        self.engine = engine
        self.project = project
        self.progress = progress
        self.seen: dict[str, str] = {}

    def __call__(self) -> None:
        try:
            containers = self.engine.containers(self.project)
        except Exception:
            return
        for info in containers:
            state = state_label(info)
            if self.seen.get(info.name) != state:
                self.seen[info.name] = state
                self.progress(f"  {info.service}: {state}")
