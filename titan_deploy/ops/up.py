"""`up`: check-secrets -> render -> lint -> `compose up -d --wait` -> verify (DESIGN §5).

Stops at the first failing stage with its findings. Progress (stage by stage, and each service's
state while compose waits) goes to the `progress` callback — stderr in the CLI — never stdout.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from titan_deploy.core.containers import ContainerInfo
from titan_deploy.core.findings import Report
from titan_deploy.errors import ComposeError
from titan_deploy.io import compose
from titan_deploy.io import engine as engine_io
from titan_deploy.ops.check import run_check
from titan_deploy.ops.lint import run_lint
from titan_deploy.ops.render import run_render
from titan_deploy.ops.stack import checked_files, project_name, verify_report
from titan_deploy.project import Project

Progress = Callable[[str], None]


def run_up(project: Project, timeout: int = 300, progress: Progress = lambda _: None) -> Report:
    stages: list[dict] = []
    engine = engine_io.connect()
    checked = None
    for name, stage in (("check-secrets", run_check), ("render", run_render), ("lint", run_lint)):
        report = _stage(name, lambda stage=stage: stage(project), stages, progress)
        if not report.ok:
            return _stopped(report, name, stages)
        if checked is None:  # what check-secrets passed: verify proves it is what got deployed
            checked = checked_files(project)
    command = compose.command_for(
        project.project_dir, project.all_compose_files(), project_name(project)
    )
    _compose_up(project, engine, command, timeout, stages, progress)
    report = _stage(
        "verify", lambda: verify_report(project, engine, checked=checked), stages, progress
    )
    report.command = "up"
    report.data["stages"] = stages
    if not report.ok:
        report.summary = f"up stopped at verify: {report.summary}"
    else:
        report.summary = f"stack up and verified: {report.summary}"
    return report


def _stage(name: str, fn: Callable[[], Report], stages: list[dict], progress: Progress) -> Report:
    progress(f"{name} ...")
    started = time.monotonic()
    report = fn()
    seconds = round(time.monotonic() - started, 2)
    stages.append({"stage": name, "ok": report.ok, "seconds": seconds})
    progress(f"{name}: {'ok' if report.ok else 'FAILED'} ({seconds:.1f}s)")
    return report


def _stopped(report: Report, stage: str, stages: list[dict]) -> Report:
    report.command = "up"
    report.data["stages"] = stages
    report.summary = f"up stopped at {stage}: {report.summary}"
    return report


def _compose_up(project, engine, command, timeout, stages, progress) -> None:
    progress(f"compose up (waiting up to {timeout}s for every service to be healthy) ...")
    started = time.monotonic()
    watcher = _ServiceWatcher(engine, project_name(project), progress)
    try:
        compose.run(
            command.up(timeout), what="docker compose up", timeout=timeout + 60, on_tick=watcher
        )
    except ComposeError as exc:
        failing = describe_failing(engine.containers(project_name(project)))
        stages.append({"stage": "compose up", "ok": False, "seconds": _since(started)})
        if failing:
            exc.message = f"{exc.message}; failing: {failing}"
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
            state = "restarting" if info.restarting else info.health or info.status
            bad.append(f"{info.service} ({state}, exit {info.exit_code})")
    return ", ".join(dict.fromkeys(bad))


class _ServiceWatcher:
    """Called once a second while compose waits: prints each service's state when it changes."""

    def __init__(self, engine, project: str, progress: Progress) -> None:
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
            state = "restarting" if info.restarting else info.health or info.status
            if self.seen.get(info.name) != state:
                self.seen[info.name] = state
                self.progress(f"  {info.service}: {state}")
