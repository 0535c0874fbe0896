"""`--swarm audit-logs` (README "Several hosts"): every secret value, raw and encoded, searched
in the logs of every task of the stack's services on every node (read through the manager:
`docker service logs`), in each service's spec (env, command, labels, healthcheck: what every
task starts with) and in the consumers' images as this engine has them. The search, the
encodings and the report are audit-logs' own (ops/audit.py); only the sources differ.
"""

from __future__ import annotations

import time
from typing import Any

from titan_deploy.core.findings import Report
from titan_deploy.core.timespec import parse_when
from titan_deploy.errors import TitanError, UsageError
from titan_deploy.io import swarm as swarm_io
from titan_deploy.io.logscan import scan_lines
from titan_deploy.ops.audit import Scanned, _as_lines, _patterns, _report, _unread
from titan_deploy.ops.render import current_plan
from titan_deploy.ops.stack import Backends, read_secret_values
from titan_deploy.project import Project


def run_swarm_audit(
    project: Project,
    backends: Backends,
    services: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Report:
    """The audit-logs Report of the stack on Swarm. UsageError (exit 2) for a bad option or an
    unknown --service; NotAManager / EngineUnreachable (exit 3)."""
    values, unread = read_secret_values(project)
    patterns = _patterns(values, project)
    now = time.time()
    since_ts = parse_when(since, now, "--since") if since else None
    until_ts = parse_when(until, now, "--until") if until else None
    engine = backends.engine()
    swarm = swarm_io.Swarm(engine)
    swarm.node_id()
    stack = {swarm_io.short_name(s, project.name): s for s in swarm.services(project.name)}
    if services:
        unknown = sorted(set(services) - set(stack))
        if unknown:
            raise UsageError(f"--service {', '.join(unknown)}: no such service in the stack")
        stack = {name: s for name, s in stack.items() if name in services}
    scanned = []
    for name, service in sorted(stack.items()):
        stream = swarm_io.service_logs(engine, service["ID"], since_ts, until_ts)
        result = scan_lines(stream, patterns, source=f"{name} logs", timestamps=True)
        scanned.append(Scanned(name, f"service {name}", "logs", result))
        lines = _spec_lines(swarm_io.container_spec(service))
        result = scan_lines(_as_lines(lines), patterns, source=f"service {name} spec")
        scanned.append(Scanned(name, f"service {name}", "inspect", result))
    consumers = {svc.service for svc in current_plan(project).services}
    seen: set[str] = set()
    for name, service in sorted(stack.items()):
        image = str(swarm_io.container_spec(service).get("Image") or "")
        if name not in consumers or not image or image in seen:
            continue
        seen.add(image)
        try:
            history = engine.image_history_lines(image)
        except TitanError:  # not on this node: its tasks run elsewhere
            continue
        result = scan_lines(_as_lines(history), patterns, source=f"image {image}")
        scanned.append(Scanned(name, image, "image", result))
    report = _report(scanned, patterns)
    report.findings += _unread(unread, project.manifest.secrets)
    report.data["engine"] = "swarm"
    return report


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    """What every task of a service starts with, as audit-logs' `inspect` lines."""
    lines = [f"env {item}" for item in spec.get("Env") or []]
    lines += [f"command {arg}" for arg in (spec.get("Command") or []) + (spec.get("Args") or [])]
    lines += [f"label {k}={v}" for k, v in (spec.get("Labels") or {}).items()]
    lines += [f"healthcheck {arg}" for arg in (spec.get("Healthcheck") or {}).get("Test") or []]
    return lines
