"""`--swarm up` and `--swarm down` (README "Several hosts").

up: check-secrets -> render -> lint (the same stages as on Compose) -> stack: what
`docker stack deploy` refuses in the base files (K001) or ignores (K002), and the stack overlay
rendered -> secrets: one Swarm object per value, named by its content, created through the API
(an existing object of that name is reused only when it is this project's) -> deploy:
`docker stack deploy --resolve-image never -c <base files> -c <stack overlay>` -> converge:
every service's rolling update done and all its replicas running -> verify (every task, every
node: ops/swarm_verify.py) -> prune: this project's objects no service references any more.

down: `docker stack rm`, then the objects this project created (both labels match) that no
service references; any other secret on the swarm is never touched.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection

import yaml

from titan_deploy.core.findings import Finding, Report, error
from titan_deploy.core.swarm import (
    LABEL_PROJECT,
    is_ours,
    merged_services,
    numeric_uid,
    object_labels,
    object_name,
    plan_stack,
    removable,
    render_stack,
    stack_base,
    stack_copy_name,
    update_deadlocks,
    without_image,
)
from titan_deploy.core.swarm_converge import pending_reason, swarm_verdict
from titan_deploy.errors import RuntimeFailure, TitanError, UsageError
from titan_deploy.io import fs
from titan_deploy.io import swarm as swarm_io
from titan_deploy.io.compose import ComposeFactory
from titan_deploy.io.engine import Engine
from titan_deploy.ops.check import run_check
from titan_deploy.ops.lint import run_lint
from titan_deploy.ops.render import (
    OWN_MARK,
    base_files,
    current_plan,
    refuse_foreign,
    run_render,
    service_profiles,
)
from titan_deploy.ops.stack import Backends, checked_files
from titan_deploy.ops.swarm_verify import swarm_verify_report
from titan_deploy.ops.up import _result, _stage, describe, refuse_if_rotating, staged
from titan_deploy.project import Project

Progress = Callable[[str], None]
POLL_SECONDS = 1.0


def run_swarm_up(
    project: Project,
    backends: Backends,
    timeout: int = 300,
    progress: Progress = lambda _: None,
) -> Report:
    """Deploy the stack on Swarm and verify every task; a Report with every stage's findings.
    NotAManager / EngineUnreachable / RuntimeFailure (exit 3) as their stage meets them;
    ConfigError (exit 2) for a base file a stack overlay cannot work with."""
    refuse_if_rotating(project)
    stages: list[dict] = []
    found: list[Finding] = []
    checked = None
    values: dict[str, bytes] = {}
    steps: list[tuple[str, Callable[[], Report]]] = [
        ("check-secrets", lambda: run_check(project)),
        ("render", lambda: run_render(project, compose_for=backends.compose)),
        ("lint", lambda: run_lint(project, backends.compose)),
        ("stack", lambda: render_stack_overlay(project, values, backends.compose)),
    ]
    for name, stage in steps:
        report = _stage(name, stage, stages, progress)
        found += staged(report.findings, name)
        if not report.ok:
            return _result(report, found, stages, f"up stopped at {name}: {report.summary}")
        if checked is None:
            checked = checked_files(project)
    try:
        engine = backends.engine()
        swarm = swarm_io.Swarm(engine)
        swarm.node_id()
        names = {source: object_name(project.name, source, data) for source, data in values.items()}
        report = _stage(
            "updates", lambda: check_updates(project, swarm, backends.compose), stages, progress
        )
        found += staged(report.findings, "updates")
        if not report.ok:
            return _result(report, found, stages, f"up stopped at updates: {report.summary}")
        _stage("secrets", lambda: ensure_objects(project, swarm, values), stages, progress)
        values.clear()
        _stage("deploy", lambda: deploy(project), stages, progress)
        report = _stage("converge", lambda: converge(project, engine, timeout), stages, progress)
        found += staged(report.findings, "converge")
        report = _stage(
            "verify", lambda: swarm_verify_report(project, engine, checked), stages, progress
        )
        found += staged(report.findings, "verify")
        pruned = prune(project, swarm, keep=set(names.values()))
    except TitanError:
        for finding in found:
            progress(describe(finding))
        raise
    report.data["objects"] = sorted(names.values())
    report.data["removed_objects"] = pruned
    if not report.ok:
        return _result(report, found, stages, f"up stopped at verify: {report.summary}")
    return _result(report, found, stages, f"stack up on swarm and verified: {report.summary}")


def consumer_uids(docs: list[object], image_user: Callable[[str], str | None]) -> dict[str, str]:
    """Each service's numeric uid: its `user:` in the base files (the last file wins), else
    its image's `User` (`image_user(image)`); a service whose user is a name is left out."""
    users: dict[str, object] = {}
    images: dict[str, str] = {}
    for doc in docs:
        services = doc.get("services") if isinstance(doc, dict) else None
        for name, body in services.items() if isinstance(services, dict) else ():
            if isinstance(body, dict):
                if "user" in body:
                    users[str(name)] = body["user"]
                if isinstance(body.get("image"), str):
                    images[str(name)] = body["image"]
    out = {}
    for service in set(users) | set(images):
        user = users[service] if service in users else image_user(images[service])
        uid = numeric_uid(user) if user else "0"
        if uid is not None:
            out[service] = uid
    return out


def image_user(image: str) -> str | None:
    """The `User` an image on this engine runs as ("" root), None when it cannot be read (no
    engine, no such image here: verify then judges the file as mounted)."""
    import docker.errors

    try:
        attrs = _local_engine().client.api.inspect_image(image)
    except (TitanError, docker.errors.APIError):
        return None
    return str((attrs.get("Config") or {}).get("User") or "")


@functools.cache
def _local_engine() -> Engine:
    from titan_deploy.io import engine as engine_io

    return engine_io.connect()


def render_stack_overlay(
    project: Project,
    values: dict[str, bytes],
    compose_for: ComposeFactory,
    image_user: Callable[[str], str | None] = image_user,
) -> Report:
    """The `stack` stage: the stack's copy of each base file (what `docker stack deploy`
    cannot take left out: K002; what cannot be left out safely: K001, and nothing is written)
    and the stack overlay, each written atomically beside its source and only over a file
    titan-deploy rendered. Fills `values` (overlay source -> the bytes its object will hold,
    read bounded) for the secrets stage. Only the services this run's profiles enable are in
    the stack (Compose says which, through `compose_for`)."""
    docs = base_files(project)
    active = _active(project, compose_for)
    report = Report("stack")
    copies: list[tuple[str, str]] = []
    bodies: list[tuple[str, dict]] = []
    for doc in docs:
        if doc.included or not doc.inside:
            where = "is included" if doc.included else "is outside the project dir"
            report.findings.append(
                error(
                    "K001", f"{doc.display} {where}: the stack needs its own copy", file=doc.display
                )
            )
            continue
        body, found = stack_base(doc.value, doc.display, active)
        report.findings += found
        bodies.append((doc.display, body))
        header = f"{OWN_MARK} from {doc.display} for `docker stack deploy`. Do not edit.\n"
        copies.append(
            (stack_copy_name(doc.display), header + yaml.safe_dump(body, sort_keys=False))
        )
    report.findings += without_image(bodies)
    if not report.ok:
        report.summary = "docker stack deploy cannot deploy these compose files as they are"
        return report
    plan = current_plan(project)
    for source, path in plan.files:
        values[source] = fs.read_secret(project.path(path))
    names = {source: object_name(project.name, source, data) for source, data in values.items()}
    uids = consumer_uids([d.value for d in docs], image_user)
    merged = merged_services(bodies)
    overlay = render_stack(plan_stack(plan, names, project.manifest, uids, merged))
    _ = project.stack_overlay_path  # ConfigError: it would overwrite a project file
    written = [
        shown
        for shown, text in [*copies, (project.manifest.deploy.stack_overlay, overlay)]
        if _write_rendered(project, shown, text)
    ]
    report.data = {"files": [c for c, _ in copies], "objects": len(names), "written": written}
    report.summary = f"wrote {', '.join(written)}" if written else "stack files unchanged"
    return report


def _active(project: Project, compose_for: ComposeFactory) -> frozenset[str] | None:
    """The services this run's profiles enable, when any base service is in a profile."""
    profiles = service_profiles([d.value for d in base_files(project)])
    if not any(profiles.values()):
        return None
    return project.active_services(compose_for)


def check_updates(project: Project, swarm: swarm_io.Swarm, compose_for: ComposeFactory) -> Report:
    """The `updates` stage: K007 for a rolling update (or rollback) the stack's settings make
    impossible on this swarm's schedulable nodes (core/swarm.update_deadlocks)."""
    bodies = []
    active = _active(project, compose_for)
    for doc in base_files(project):
        bodies.append((doc.display, stack_base(doc.value, doc.display, active)[0]))
    nodes = swarm.schedulable()
    report = Report("updates", findings=update_deadlocks(merged_services(bodies), nodes))
    report.summary = (
        f"every rolling update can finish on {nodes} node(s)"
        if report.ok
        else "a rolling update could never finish"
    )
    return report


def stack_files(project: Project) -> list[str]:
    """What `docker stack deploy` gets: the stack's copy of each base file, then the stack
    overlay (relative to the project dir)."""
    return [
        *(stack_copy_name(d.display) for d in base_files(project)),
        project.manifest.deploy.stack_overlay,
    ]


def _write_rendered(project: Project, shown: str, text: str) -> bool:
    """Write `text` to `shown` unless it is already there; only over a file titan-deploy
    rendered. Whether it wrote."""
    target = project.path(shown)
    try:
        on_disk: str | None = fs.read_config(target, follow_symlinks=False).decode("utf-8")
    except FileNotFoundError:
        on_disk = None
    if on_disk == text:
        return False
    refuse_foreign(on_disk, shown)
    fs.atomic_write(target, text.encode(), mode=0o644, root=project.project_dir)
    return True


def ensure_objects(project: Project, swarm: swarm_io.Swarm, values: dict[str, bytes]) -> Report:
    """Create the object of every value that has none yet; reuse this project's existing one.
    RuntimeFailure (exit 3) when an object of that name exists and is not this project's."""
    existing = {name: labels for _, name, labels in swarm.secrets()}
    created, reused = [], []
    for source, data in sorted(values.items()):
        name = object_name(project.name, source, data)
        if name in existing:
            labels = existing[name]
            if labels.get(LABEL_PROJECT) != project.name:
                raise RuntimeFailure(
                    f"a swarm secret named {name} exists and is not titan-deploy's for project "
                    f"{project.name}: refusing to use or replace it (remove it, or use another -p)"
                )
            reused.append(name)
            continue
        swarm.create_secret(name, data, object_labels(project.name, source))
        created.append(name)
    report = Report("secrets")
    report.data = {"created": created, "reused": reused}
    report.summary = f"{len(created)} secret object(s) created, {len(reused)} reused"
    return report


def deploy(project: Project) -> Report:
    """`docker stack deploy` of the base compose files plus the stack overlay."""
    swarm_io.stack_deploy(project.project_dir, stack_files(project), project.name)
    report = Report("deploy")
    report.summary = f"stack {project.name} deployed"
    return report


def converge(project: Project, engine: Engine, timeout: int) -> Report:
    """Wait (bounded by `timeout` seconds) until every service of the stack has finished its
    rolling update and runs all its replicas (a healthcheck must pass first: Swarm keeps a task
    `starting` until then). K005: an update rolled back or paused; K004: not converged."""
    swarm = swarm_io.Swarm(engine)
    deadline = time.monotonic() + timeout
    while True:
        pending, failed = pending_services(project, swarm)
        if not pending or failed or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    report = Report("converge")
    report.findings = failed + [
        error("K004", f"not converged within {timeout}s: {why}", service=service)
        for service, why in pending.items()
        if not failed
    ]
    report.summary = "every service converged" if report.ok else "the stack did not converge"
    return report


def pending_services(
    project: Project, swarm: swarm_io.Swarm, only: Collection[str] | None = None
) -> tuple[dict[str, str], list[Finding]]:
    """(service -> why it has not converged, K005 for an update Swarm itself paused or rolled
    back: core/swarm_converge.swarm_verdict, whose Swarm message the caller's scrubber must see
    before it is shown) over the
    stack's services (`only`: these); a stack with no service at all is pending. Converged:
    core/swarm_converge.pending_reason (every live task runs the service's current spec, as
    many as it wants; never the update status alone, which a deploy resets)."""
    pending: dict[str, str] = {}
    failed: list[Finding] = []
    services = swarm.services(project.name)
    if not services:
        return {"(stack)": "no service of the stack exists"}, []
    for service in services:
        short = swarm_io.short_name(service, project.name)
        if only is not None and short not in only:
            continue
        state = swarm_io.update_state(service)
        verdict = swarm_verdict(state, swarm_io.update_message(service))
        if verdict:
            failed.append(error("K005", verdict, service=short))
            continue
        tasks = [swarm_io.live_task(t, service) for t in swarm.live_tasks(service["ID"])]
        why = pending_reason(state, swarm_io.desired_replicas(service), tasks)
        if why:
            pending[short] = why
    return pending, failed


def prune(project: Project, swarm: swarm_io.Swarm, keep: set[str]) -> list[str]:
    """Remove this project's objects (both labels) that no service references and that are not
    in `keep`; the names removed. An object the engine refuses to remove stays (listed by the
    next run); another project's or another tool's secret is never a candidate."""
    label = f"{LABEL_PROJECT}={project.name}"
    candidates = removable(swarm.secrets(label), project.name, swarm.referenced_secrets(), keep)
    return [name for oid, name in candidates if not swarm.remove_secret(oid)]


def _ours(project: Project, swarm: swarm_io.Swarm) -> list[str]:
    """The names of the objects this project created (both labels) still on the swarm."""
    label = f"{LABEL_PROJECT}={project.name}"
    return [name for _, name, labels in swarm.secrets(label) if is_ours(labels, project.name)]


def run_swarm_down(
    project: Project, backends: Backends, volumes: bool = False, timeout: int = 60
) -> Report:
    """`docker stack rm`, then remove the secret objects this project created once no service
    references them (bounded by `timeout` seconds). UsageError (exit 2) with `volumes`:
    `docker stack rm` keeps volumes (remove them with `docker volume rm` on each node)."""
    if volumes:
        raise UsageError(
            "--volumes is not supported with --swarm: `docker stack rm` keeps volumes on every "
            "node; remove them there with `docker volume rm`"
        )
    engine = backends.engine()
    swarm = swarm_io.Swarm(engine)
    swarm.node_id()
    swarm_io.stack_rm(project.name)
    deadline = time.monotonic() + timeout
    removed = prune(project, swarm, keep=set())
    while _ours(project, swarm) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)  # services are going: their secrets become removable
        removed += prune(project, swarm, keep=set())
    left = _ours(project, swarm)
    report = Report("down")
    report.data = {"project": project.name, "engine": "swarm", "removed_objects": removed}
    if left:
        report.findings.append(
            error("K006", f"secret object(s) still in use, not removed: {', '.join(left)}")
        )
    report.summary = f"stack {project.name} removed; {len(removed)} secret object(s) removed"
    return report
