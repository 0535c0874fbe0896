"""`up`, `verify` and `down` on the agent path (README "Secrets managers"): when the manifest's
`backend:` has an `agent:` section, the stack gets its secrets from the agent sidecar
(core/agent.py; AWS Secrets Manager: core/agent_aws.py) instead of files on this host.

up: check-secrets --backend (the values in memory only) -> pin each secret's base to the KV
version just checked (io/backendpins.py) -> render-agent -> `compose up -d --wait` of the
compose files plus docker-compose.agent.yml (the consumers wait for the healthy agent, i.e.
every file rendered) -> verify. verify: each container's file against the digest of the KV
version it should hold (ops/backend_verify.py), through verify's own container reads.
"""

from __future__ import annotations

from collections.abc import Callable

from titan_deploy.core.agent import rendered_files
from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.ops.stack import Backends
from titan_deploy.project import Project

Progress = Callable[[str], None]


def uses_agent(project: Project) -> bool:
    """Whether this project deploys through the agent sidecar: `backend: {agent: ...}`."""
    backend = project.manifest.backend
    return backend is not None and backend.agent and not project.swarm


def agent_compose_files(project: Project) -> list[str]:
    """The compose files the agent path deploys: the project's (without the overlay) plus the
    agent's compose file."""
    from titan_deploy.ops.render_agent import COMPOSE_FILE

    overlay = project.manifest.overlay
    return [*(f for f in project.compose_files if f != overlay), COMPOSE_FILE]


def connect(project: Project) -> SecretBackend:
    """The manifest's backend, logged in (ops/push.connect)."""
    from titan_deploy.ops.push import connect as connect_backend

    return connect_backend(project)


def pin_current(project: Project, backend: SecretBackend) -> dict[str, str]:
    """Pin each secret's and config's base to the KV version the backend holds now (a config's
    derived entry rendered and written first where it is stale: ops/agent_configs.py);
    entry -> its version."""
    from titan_deploy.core.agent import BASE, pin_value
    from titan_deploy.io import backendpins

    if project.manifest.configs:
        from titan_deploy.errors import ConfigError
        from titan_deploy.ops.agent_configs import sync_configs

        _, found, _ = sync_configs(project, backend)
        if found:  # check-secrets --backend reported it; no config is deployed without its entry
            raise ConfigError(found[0].message)
    pins = backendpins.load(project)
    out = {}
    for name in project.manifest.secrets:
        stored = backend.read(name)
        pinned = pin_value(stored.version) if stored is not None else None
        if stored is not None and pinned is not None:
            pins.setdefault(name, {})[BASE] = pinned
            out[name] = stored.version
    backendpins.save(project, pins, backend, every=True)  # up labels every pin again
    return out


def agent_verify_report(
    project: Project,
    engine,
    backend: SecretBackend,
    plan: OverlayPlan | None = None,
    inactive: dict[str, tuple[str, ...]] | None = None,
) -> Report:
    """verify against the backend: `plan` (default the current one) with the expected digests
    of the KV versions each file is pinned to."""
    from titan_deploy.io import backendpins
    from titan_deploy.ops.backend_verify import expected_from_backend
    from titan_deploy.ops.render import current_plan
    from titan_deploy.ops.verify import verify_report

    plan = plan or current_plan(project)
    rendered_files(project.manifest, plan)  # refuses targets off /run/secrets
    files = {s.name: s.file_name for s in project.manifest.secrets.values()}
    expected = expected_from_backend(backend, plan, backendpins.load(project), files)
    report = verify_report(project, engine, plan=plan, inactive=inactive, expected=expected)
    report.data["backend"] = backend.config.type
    report.data["kv_versions"] = expected.versions
    return report


def run_agent_verify(project: Project, backends: Backends) -> Report:
    """`verify` on the agent path. Exit 1 on a failed pair; 2 no backend / bad manifest; 3 the
    engine or the backend unreachable."""
    from titan_deploy.ops.verify import select_active

    plan, inactive = select_active(project, backends.compose)
    backend = connect(project)
    return agent_verify_report(project, backends.engine(), backend, plan, inactive)


def run_agent_up(
    project: Project,
    backends: Backends,
    timeout: int = 300,
    progress: Progress = lambda _: None,
    build: bool = False,
) -> Report:
    """`up` on the agent path (module doc); the report carries every stage's findings like
    `up`'s; `build` as `up --build`. RotationInFlight / ComposeError / EngineUnreachable
    (exit 3) as `up`."""
    from titan_deploy.ops import up as up_ops
    from titan_deploy.ops.check_backend import run_check_backend
    from titan_deploy.ops.render_agent import run_render_agent
    from titan_deploy.ops.verify import select_active

    up_ops.refuse_if_rotating(project)
    backend = connect(project)
    stages: list[dict] = []
    found: list[Finding] = []
    steps: list[tuple[str, Callable[[], Report]]] = [
        ("check-secrets", lambda: run_check_backend(project, opener=lambda *_: backend)),
        ("render", lambda: _render(project, backend, run_render_agent)),
    ]
    for name, stage in steps:
        report = up_ops._stage(name, stage, stages, progress)
        found += up_ops.staged(report.findings, name)
        if not report.ok:
            return up_ops._result(report, found, stages, f"up stopped at {name}: {report.summary}")
    engine = backends.engine()
    runner = backends.compose(project.project_dir, agent_compose_files(project), project.name)
    built = up_ops.built_services(project)
    up_ops._compose_up(project.name, engine, runner, timeout, stages, progress, build, built)
    plan, inactive = select_active(project, backends.compose)
    report = up_ops._stage(
        "verify",
        lambda: agent_verify_report(project, engine, backend, plan, inactive),
        stages,
        progress,
    )
    found += up_ops.staged(report.findings, "verify")
    verdict = "stack up (agent path) and verified" if report.ok else "up stopped at verify"
    return up_ops._result(report, found, stages, f"{verdict}: {report.summary}")


def _render(project: Project, backend: SecretBackend, render: Callable[..., Report]) -> Report:
    pinned = pin_current(project, backend)
    report = render(project)
    report.data["pinned"] = pinned
    return report


def run_agent_down(project: Project, backends: Backends, volumes: bool = False) -> Report:
    """`down` of the agent path's files (the sidecar and its tmpfs volumes go with the stack;
    named volumes only with `volumes`). ComposeError (exit 3)."""
    name = project.name
    backends.compose(project.project_dir, agent_compose_files(project), name).down(volumes)
    report = Report("down")
    report.data = {"project": name, "volumes_removed": volumes, "agent": True}
    report.summary = f"project {name} is down" + (" (volumes removed)" if volumes else "")
    return report
