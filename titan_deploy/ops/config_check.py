"""check-secrets' findings on config files (README "Config files"): S027, a name a template uses
that is not one of its inputs; S028, a template that does not parse or render with the current
inputs (with an input missing, which check-secrets reports itself, the template is only parsed).

Every config is checked in ONE bounded child (io/bounded.py: memory and CPU limits), started
before check-secrets' other checks and collected after them, so that the child's work (importing
Jinja, compiling and rendering the templates) runs beside the parent's instead of after it. Only
when that child passes a limit (a costly template) is each config checked again in a child of its
own, to name the one at fault. Values reach the child by fork, never argv or a file; the child
sends back only each config's problem code and its scrubbed message."""

from __future__ import annotations

from collections.abc import Iterable

from titan_deploy.core.configs import TemplateProblem, referenced, render
from titan_deploy.core.findings import Finding, error
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.io.bounded import Crashed, Exceeded, Pending, start_bounded
from titan_deploy.ops.configs import (
    MissingInput,
    input_values,
    referenced_bounded,
    render_bounded,
    template_source,
)
from titan_deploy.project import Project

# (template as shown, its source, its inputs, the inputs' values or None when one is missing)
Job = tuple[str, str, tuple[str, ...], dict[str, bytes] | None]
Problem = tuple[str, str] | None  # (TemplateProblem.code, its message), None: fine


class ConfigCheck:
    """The running check of every config of a project: `findings()` waits for it; `close()`
    (in a `finally`) ends the child if the findings were never taken."""

    def __init__(self, specs: list[SecretSpec], jobs: list[Job], label: str) -> None:
        self._specs, self._jobs, self._label = specs, jobs, label
        self._pending: Pending | None = start_bounded(_check_all, jobs) if jobs else None

    def findings(self) -> list[Finding]:
        """S027/S028 per config, in the manifest's order."""
        if self._pending is None:
            return []
        pending, self._pending = self._pending, None
        try:
            problems: list[Problem] = pending.result()
        except (Exceeded, Crashed):  # a costly template: one child per config names it
            problems = [_problem(job, alone=True) for job in self._jobs]
        return [
            _finding(spec, problem, self._label)
            for spec, problem in zip(self._specs, problems, strict=True)
            if problem is not None
        ]

    def close(self) -> None:
        """Kill and reap the child unless `findings()` took its result."""
        if self._pending is not None:
            self._pending.close()
            self._pending = None


def start(project: Project, label: str) -> ConfigCheck:
    """Read every config's template and inputs, then start their check. `label`: the secrets
    dir as shown in a fix. ConfigError (exit 2) for an unreadable template; OSError when the
    fork fails."""
    specs = list(project.manifest.configs.values())
    return ConfigCheck(specs, [_job(project, spec) for spec in specs], label)


def _job(project: Project, spec: SecretSpec) -> Job:
    source = template_source(project, spec)
    try:
        values: dict[str, bytes] | None = input_values(project, spec)
    except MissingInput:
        values = None
    return (str(spec.template), source, tuple(spec.inputs), values)


def _check_all(jobs: Iterable[Job]) -> list[Problem]:
    """In the bounded child: each job's problem (a render checks its names first)."""
    return [_problem(job) for job in jobs]


def _problem(job: Job, alone: bool = False) -> Problem:
    """The job's (code, message), or None; `alone`: in a bounded child of its own (else the
    caller is the bounded child)."""
    template, source, inputs, values = job
    parse, fill = (referenced_bounded, render_bounded) if alone else (referenced, render)
    try:
        if values is None:
            parse(template, source, inputs)
        else:
            fill(template, source, values)
    except TemplateProblem as exc:
        return (exc.code, exc.message)
    return None


def _finding(spec: SecretSpec, problem: tuple[str, str], label: str) -> Finding:
    code = "S027" if problem[0] == "undeclared" else "S028"
    fix = (
        f"add the secret to configs.{spec.name}.inputs, or fix the name in {spec.template}"
        if code == "S027"
        else f"fix {spec.template}, then `titan-deploy render` (renders {label}/{spec.file_name})"
    )
    return error(code, f"config {spec.name}: {problem[1]}", secret=spec.name, fix=fix)
