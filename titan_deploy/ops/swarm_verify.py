"""`--swarm verify` and `--swarm status` (README "Several hosts"): every running task of every
consumer service, on every node, read through that node's engine.

The manager lists each consumer service's tasks (desired state running). A task's container is
read by the engine of the node it runs on: this manager's own engine for its own tasks, the
manifest's `deploy.nodes` endpoint for another node's. Those containers then go through the very
checks of `verify` on Compose (ops/stack.gather per node, core/verify on the merged facts): the
file is there, its hash equals the host file's, its user can read it, the `*_FILE` var points at
it, nothing leaks. What Swarm adds is judged in core/swarm.py: a task on a node the tool cannot
reach (K003) and a service whose tasks do not all run (K004) fail its rows: never a silent pass.

A node reached through a remote endpoint (tcp://, ssh://: no /proc of its processes here) is
read through the archive API, which does not see a Swarm secret: the daemon mounts it in the
task's container only, and the archive shows the empty placeholder file of the image's root
(read from a real engine: size 0, mode 0755). There a secret's content is proved by the object
the task mounts at that path, named by its content (core/swarm.object_name): the name must be
the one the host file's value gives; owner and mode are the task spec's (method `swarm-object`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from titan_deploy.core.containers import ARCHIVE, SWARM_OBJECT, ContainerInfo, FileStat
from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.swarm import TaskFact, convergence_findings, object_name, unreachable
from titan_deploy.core.verify import Facts, HostFile, verify
from titan_deploy.io import fs
from titan_deploy.io import swarm as swarm_io
from titan_deploy.io.engine import Engine
from titan_deploy.ops.render import current_plan
from titan_deploy.ops.stack import Backends, gather
from titan_deploy.ops.verify import VERIFY_COLUMNS
from titan_deploy.project import Project

STATUS_COLUMNS = ["service", "replicas", "tasks", "nodes", "update", "secrets"]


@dataclass
class Survey:
    """What the manager and the nodes said about the stack's consumer services."""

    tasks: dict[str, list[TaskFact]] = field(default_factory=dict)  # service -> its tasks
    desired: dict[str, int | None] = field(default_factory=dict)  # service -> replicas
    updates: dict[str, str] = field(default_factory=dict)  # service -> update state
    containers: dict[str, list[ContainerInfo]] = field(default_factory=dict)  # node -> infos
    engines: dict[str, Engine] = field(default_factory=dict)  # node id -> its engine
    # container id -> path -> (object name, uid, gid, mode) of the secrets its task mounts
    objects: dict[str, dict[str, tuple[str, int, int, int]]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # K003, K004


def node_engines(project: Project, engine: Engine) -> swarm_io.NodeEngines:
    """How a task's node is reached: the run's own (a rotation's SwarmEngine keeps its
    connections), else this manager's engine for its node and the manifest's deploy.nodes
    endpoints for the others. NotAManager (exit 3) when `engine` is no manager."""
    if isinstance(engine, swarm_io.SwarmEngine):
        return engine.nodes
    local = swarm_io.Swarm(engine).node_id()
    return swarm_io.NodeEngines(local, engine, project.manifest.deploy.endpoint)


def survey(project: Project, engine: Engine, consumers: set[str] | None = None) -> Survey:
    """List the stack's services and tasks on the manager and inspect each running task's
    container (of `consumers` only, when given) through its node's engine. NotAManager
    (exit 3) when `engine` is no manager."""
    swarm = swarm_io.Swarm(engine)
    reach = node_engines(project, engine)
    nodes = swarm.nodes()
    out = Survey()
    name = project.name
    for service in swarm.services(name):
        short = swarm_io.short_name(service, name)
        out.desired[short] = swarm_io.desired_replicas(service)
        out.updates[short] = swarm_io.update_state(service)
        raw = swarm.tasks(service["ID"])
        facts = [swarm_io.task_fact(t, short, nodes) for t in raw]
        out.tasks[short] = facts
        out.findings += convergence_findings(short, out.desired[short], facts)
        for task, fact in zip(raw, facts, strict=True):
            wanted = consumers is None or short in consumers
            if wanted and fact.state == "running" and fact.container_id:
                _inspect(reach, out, fact, swarm_io.secret_targets(task))
                out.objects[fact.container_id] = swarm_io.secret_objects(task)
    out.engines = dict(reach.engines)
    return out


def _inspect(
    reach: swarm_io.NodeEngines, out: Survey, task: TaskFact, targets: tuple[str, ...]
) -> None:
    engine, why = reach.engine(task)
    if engine is None:
        out.findings.append(unreachable(task, why))
        return
    try:
        info = engine.inspect(task.container_id)
    except Exception as exc:  # the node answered but not about this container: a finding
        out.findings.append(unreachable(task, f"its container cannot be inspected ({exc})"))
        return
    mounts = None if info.mounts is None else (*info.mounts, *targets)
    info = replace(info, service=task.service, mounts=mounts)
    out.containers.setdefault(task.node_id, []).append(info)


def swarm_facts(
    project: Project, found: Survey, plan: OverlayPlan, checked: dict[str, HostFile] | None
) -> Facts:
    """The verify facts of every node's containers, merged (keys are container ids)."""
    merged: Facts | None = None
    for node_id, engine in found.engines.items():
        infos = found.containers.get(node_id, [])
        if merged is not None and not infos:
            continue
        facts = gather(project, engine, plan, containers=infos, checked=checked)
        facts = replace(facts, files=by_object(project, plan, facts, found.objects))
        merged = facts if merged is None else _merge(merged, facts)
    assert merged is not None  # the manager's own engine is always there
    return merged


def by_object(
    project: Project,
    plan: OverlayPlan,
    facts: Facts,
    objects: dict[str, dict[str, tuple[str, int, int, int]]],
) -> dict[tuple[str, str], FileStat]:
    """`facts.files` with each secret read through the archive API (which cannot see a Swarm
    secret) replaced by what the task's spec proves: the object mounted there, its content the
    host file's when its name is the one that content gives, with the spec's owner and mode."""
    files = dict(facts.files)
    names: dict[str, str] = {}
    for svc in plan.services:
        for info in facts.containers.get(svc.service, []):
            for mount in svc.mounts:
                key = (info.id, mount.container_path)
                mounted = objects.get(info.id, {}).get(mount.container_path)
                stat = files.get(key)
                if mounted is None or stat is None or stat.method != ARCHIVE:
                    continue
                if mount.source not in names:
                    names[mount.source] = _object_of(project, plan, mount.source)
                name, uid, gid, mode = mounted
                host = facts.host.get(mount.source)
                same = host is not None and name == names[mount.source]
                files[key] = FileStat(
                    path=mount.container_path,
                    exists=True,
                    sha256=host.sha256 if same and host is not None else f"object {name}",
                    uid=uid,
                    gid=gid,
                    mode=mode,
                    method=SWARM_OBJECT,
                )
    return files


def _object_of(project: Project, plan: OverlayPlan, source: str) -> str:
    """The object name the host file of `source` gives now ("" when it cannot be read)."""
    path = dict(plan.files).get(source)
    try:
        return object_name(project.name, source, fs.read_secret(project.path(path or "")))
    except (OSError, ValueError):
        return ""


def _merge(a: Facts, b: Facts) -> Facts:
    containers = {s: list(v) for s, v in a.containers.items()}
    for service, infos in b.containers.items():
        containers.setdefault(service, []).extend(infos)
    return replace(
        a,
        containers=containers,
        files={**a.files, **b.files},
        identities={**a.identities, **b.identities},
        processes={**a.processes, **b.processes},
        notes={**a.notes, **b.notes},
    )


def swarm_verify_report(
    project: Project,
    engine: Engine,
    checked: dict[str, HostFile] | None = None,
    found: Survey | None = None,
) -> Report:
    """The verify Report on Swarm: one row per (service, secret) over every running task on
    every node, plus K003/K004 findings, which fail their service's rows. `found`: a survey
    the caller already made (status), else one of the consumer services."""
    plan = current_plan(project)
    consumers = {svc.service for svc in plan.services}
    if found is None:
        found = survey(project, engine, consumers)
    found = replace(found, findings=list(found.findings))
    rows, findings = verify(swarm_facts(project, found, plan, checked))
    found.findings = [f for f in found.findings if f.service in consumers]
    failing: dict[str, list[str]] = {}
    for finding in found.findings:
        failing.setdefault(str(finding.service), []).append(finding.message)
    for row in rows:
        for message in failing.get(row["service"], []):
            row["running"] = False
            row["problem"] = "; ".join(p for p in (row["problem"], message) if p)
    findings = [*found.findings, *findings]
    report = Report("verify", findings=findings, rows=rows, columns=VERIFY_COLUMNS)
    good = sum(1 for row in rows if not row["problem"])
    tasks = sum(len(v) for v in found.containers.values())
    report.data = {
        "project": project.name,
        "engine": "swarm",
        "pairs": len(rows),
        "verified": good,
        "tasks": tasks,
        "nodes": sorted({t.node or t.node_id for ts in found.tasks.values() for t in ts}),
    }
    report.summary = (
        f"all {len(rows)} (service, secret) pairs verified on {tasks} task(s)"
        if report.ok
        else f"{len(rows) - good} of {len(rows)} (service, secret) pairs FAILED verification "
        f"on swarm"
    )
    return report


def run_swarm_verify(project: Project, backends: Backends) -> Report:
    """`--swarm verify`. NotAManager / EngineUnreachable (exit 3)."""
    return swarm_verify_report(project, backends.engine())


def run_swarm_status(project: Project, backends: Backends) -> Report:
    """`--swarm status`: one row per stack service: replicas running/desired, task states,
    nodes, rolling-update state, and how many of its secrets verify."""
    engine = backends.engine()
    found = survey(project, engine)
    verified = swarm_verify_report(project, engine, found=found)
    checks: dict[str, list[bool]] = {}
    for row in verified.rows:
        checks.setdefault(row["service"], []).append(not row["problem"])
    report = Report("status", columns=STATUS_COLUMNS)
    for service in sorted(set(found.tasks) | set(checks)):
        tasks = found.tasks.get(service, [])
        running = sum(1 for t in tasks if t.state == "running")
        desired = found.desired.get(service)
        mine = checks.get(service, [])
        report.rows.append(
            {
                "service": service,
                "replicas": f"{running}/{'global' if desired is None else desired}"
                if service in found.tasks
                else "absent",
                "tasks": ",".join(sorted({t.state for t in tasks})) or "-",
                "nodes": ",".join(sorted({t.node or t.node_id[:12] for t in tasks})) or "-",
                "update": found.updates.get(service) or "-",
                "secrets": f"{sum(mine)}/{len(mine)} verified" if mine else "-",
            }
        )
    total = sum(len(t) for t in found.tasks.values())
    running = sum(1 for ts in found.tasks.values() for t in ts if t.state == "running")
    report.data = {"project": project.name, "engine": "swarm", "tasks": total, "running": running}
    report.summary = f"stack {project.name}: {running}/{total} tasks running"
    return report
