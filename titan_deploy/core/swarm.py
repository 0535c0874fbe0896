"""The Swarm path as data (README "Several hosts"): secret objects named by content, the stack
overlay, what `docker stack deploy` refuses, and the task facts verify judges. Pure: the engine
calls are io/swarm.py, the recipes ops/swarm_*.py.

A Swarm secret cannot be changed (`only updates to Labels are allowed`), so each value is an
object named by its content: `<project>_<source>_<hash>`, `hash` the first HASH_CHARS hex digits
of sha256(source NUL value). A changed value is a new name, so a redeploy changes the service
spec (a rolling update) and never hits the immutability error. The hash is domain-separated by
the source name and truncated: it identifies the object, it does not publish the value's digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.manifest_model import Manifest
from titan_deploy.core.overlay import OverlayPlan, load_template
from titan_deploy.core.swarm_update import own_update_config, user_update_config
from titan_deploy.errors import ConfigError

TEMPLATE = "docker-stack.secrets.yml.j2"
LABEL_PROJECT = "org.titan-deploy.project"
LABEL_SECRET = "org.titan-deploy.secret"  # the overlay source: `<secret>` or `<secret>_v<N>`
STACK_LABEL = "com.docker.stack.namespace"
HASH_CHARS = 12
MAX_OBJECT_NAME = 64  # Swarm's limit for an object name


def object_name(project: str, source: str, data: bytes) -> str:
    """The Swarm secret object holding `data` for overlay source `source` of `project`.
    ConfigError (exit 2) when the name would exceed Swarm's 64 characters."""
    digest = hashlib.sha256(source.encode() + b"\0" + data).hexdigest()[:HASH_CHARS]
    name = f"{project}_{source}_{digest}"
    if len(name) > MAX_OBJECT_NAME:
        raise ConfigError(
            f"swarm secret name {project}_{source}_<hash> is longer than {MAX_OBJECT_NAME} "
            "characters: use a shorter project name (-p)"
        )
    return name


def object_labels(project: str, source: str) -> dict[str, str]:
    """The labels that mark an object as this tool's, for `project`, holding `source`."""
    return {LABEL_PROJECT: project, LABEL_SECRET: source}


def is_ours(labels: Mapping[str, str] | None, project: str) -> bool:
    """Whether an object's labels say this tool created it for `project` (both labels)."""
    labels = labels or {}
    return labels.get(LABEL_PROJECT) == project and bool(labels.get(LABEL_SECRET))


@dataclass(frozen=True)
class Permission:
    """uid, gid and mode of a secret file in a task (Swarm honours them; Compose does not)."""

    uid: str
    gid: str
    mode: int


def permission(manifest: Manifest, uid: str = "0") -> Permission:
    """README "Permissions model" on Swarm, for a consumer running as numeric `uid` ("0" when
    unknown or root): the file is owned by that uid (a stack file cannot add a supplementary
    group as Compose's `group_add` does, but Swarm sets the owner per service); with
    `secrets_gid` 0440 in that group, without 0400. A consumer whose user is a name the tool
    cannot resolve gets a root-owned file, and verify names it if its user cannot read it."""
    if manifest.secrets_gid is not None:
        return Permission(uid, str(manifest.secrets_gid), 0o440)
    return Permission(uid, "0", 0o400)


def numeric_uid(user: object) -> str | None:
    """The uid of a compose `user:` / image `User` (`1000`, `1000:1000`), None for a name or
    nothing (root when empty is the caller's call)."""
    uid = str(user or "").split(":", 1)[0]
    return uid if uid.isdigit() else None


@dataclass(frozen=True)
class StackMount:
    source: str
    target: str
    permission: Permission


@dataclass(frozen=True)
class StackService:
    service: str
    mounts: tuple[StackMount, ...]
    env: tuple[tuple[str, str], ...]
    update: tuple[tuple[str, str], ...] = ()  # deploy.update_config keys (core/swarm_update)


@dataclass(frozen=True)
class StackPlan:
    services: tuple[StackService, ...]
    objects: tuple[tuple[str, str], ...]  # overlay source -> swarm object name
    manifest_name: str = "secrets.manifest.yml"


def plan_stack(
    plan: OverlayPlan,
    names: Mapping[str, str],
    manifest: Manifest,
    uids: Mapping[str, str] | None = None,
    base: Mapping[str, Mapping] | None = None,
) -> StackPlan:
    """The stack overlay for the overlay `plan` (same mounts, targets and `*_FILE` vars) with
    every source an external object (`names`: source -> object name), owned by each service's
    numeric uid (`uids`, default root), each service's update rolled back by Swarm on failure
    unless its merged base settings (`base`: service -> merged compose service) choose a
    failure_action (core/swarm_update.py). ConfigError (exit 2)
    where the base files do what a stack overlay cannot undo: set a managed secret's plain
    variable, list its own entry for a managed secret, or declare a managed secret itself
    (`docker stack deploy` merges without `!reset`/`!override`)."""
    for svc in plan.services:
        took = [*svc.reset_env, *(k for k, _ in svc.keep_env or ())][:1]
        if took or svc.keep_secrets is not None:
            what = f"sets {took[0]}" if took else "lists a managed secret under secrets:"
            raise ConfigError(
                f"service {svc.service}: a base compose file {what}, which `docker stack "
                "deploy` cannot take out (it has no !reset/!override): remove it from the "
                "base file (the manifest provides it on Swarm)"
            )
    if plan.replaced:
        raise ConfigError(
            f"the base compose files declare {', '.join(plan.replaced)} under secrets:, which "
            "the stack overlay cannot replace: remove the declaration (the manifest provides it)"
        )
    uids, base = uids or {}, base or {}
    services = tuple(
        StackService(
            svc.service,
            tuple(
                StackMount(m.source, m.target, permission(manifest, uids.get(svc.service, "0")))
                for m in svc.mounts
            ),
            tuple((env, m.container_path) for m in svc.mounts for env in m.envs) + svc.env,
            own_update_config(user_update_config(base.get(svc.service))),
        )
        for svc in plan.services
    )
    objects = tuple((source, names[source]) for source, _ in plan.files)
    return StackPlan(services, objects, manifest.path.name)


def render_stack(plan: StackPlan) -> str:
    """The stack overlay YAML (deterministic); every scalar a JSON string, modes decimal."""
    return load_template(TEMPLATE).render(plan=plan, q=lambda v: json.dumps(str(v)))


# --- what `docker stack deploy` (Compose file format 3.x) accepts -----------------------------

TOP_KEYS = {"version", "services", "networks", "volumes", "secrets", "configs"}
SERVICE_KEYS = {
    "deploy", "build", "cap_add", "cap_drop", "cgroup_parent", "command", "configs",
    "container_name", "credential_spec", "depends_on", "devices", "dns", "dns_search",
    "domainname", "entrypoint", "env_file", "environment", "expose", "external_links",
    "extra_hosts", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
    "links", "logging", "mac_address", "network_mode", "networks", "pid", "ports", "privileged",
    "read_only", "restart", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "ulimits", "user",
    "userns_mode", "volumes", "working_dir",
}  # fmt: skip
# Compose features the base files may use that a stack cannot: taken out of the stack's copy of
# the base file (K002 says what and why); the compose files themselves stay as they are.
STRIPPED_TOP = {"name": "the stack is named by -p / the project name"}
STRIPPED = {
    "build": "Swarm never builds: the image must exist on every node (build it first)",
    "container_name": "Swarm names task containers itself",
    "depends_on": "Swarm starts services in no order (services must retry their dependencies)",
    "restart": "Swarm restarts tasks by deploy.restart_policy",
    "pull_policy": "the stack is deployed with --resolve-image never",
    "group_add": "Swarm mounts each secret owned by its consumer's uid instead",
    "profiles": "only the services of the active profiles are deployed",
}
IGNORED = {"links", "cgroup_parent", "devices", "network_mode", "security_opt", "userns_mode"}


def stack_base(
    doc: object, shown: str, active: Collection[str] | None = None
) -> tuple[dict, list[Finding]]:
    """The stack's copy of one base compose document and its findings: K001 (error) for what
    `docker stack deploy` cannot take and the tool cannot safely take out, K002 (warning) for
    what was taken out or what Swarm ignores. `active`: the services this run's profiles
    enable (None: all); the others are left out."""
    found: list[Finding] = []
    out: dict = {}
    for key, value in doc.items() if isinstance(doc, Mapping) else ():
        key = str(key)
        if key in STRIPPED_TOP:
            found.append(_stripped(f"top-level `{key}:`", STRIPPED_TOP[key], shown))
        elif key not in TOP_KEYS and not key.startswith("x-"):
            found.append(_refused(f"top-level `{key}:`", shown))
        elif key.startswith("x-"):
            continue  # extensions: their anchors are already resolved where they are used
        elif key == "services" and isinstance(value, Mapping):
            out[key] = {
                str(name): _service(str(name), body, shown, found)
                for name, body in value.items()
                if isinstance(body, Mapping) and (active is None or str(name) in active)
            }
        else:
            out[key] = value
    return out, found


def _service(name: str, body: Mapping, shown: str, found: list[Finding]) -> dict:
    out = {}
    for key, value in body.items():
        key = str(key)
        if key in STRIPPED:
            if key != "profiles":
                found.append(_stripped(f"`{key}:`", STRIPPED[key], shown, name))
            continue
        if value is None:  # `!reset`: nothing to give the stack
            continue
        if key not in SERVICE_KEYS and not key.startswith("x-"):
            found.append(_refused(f"`{key}:`", shown, name))
            continue
        if key in IGNORED:
            message = f"`{key}:` is ignored by docker stack deploy"
            found.append(warning("K002", message, service=name, file=shown))
        if key == "ports" and isinstance(value, list):
            value = _ports(value, name, shown, found)
            if not value:
                continue
        out[key] = value
    return out


def without_image(bodies: Iterable[tuple[str, Mapping]]) -> list[Finding]:
    """K001 for each service no stack file (shown, body) gives an `image:` (Swarm never
    builds); the files are merged, so an override file need not repeat it."""
    first: dict[str, str] = {}
    imaged: set[str] = set()
    for shown, body in bodies:
        for name, service in (body.get("services") or {}).items():
            first.setdefault(name, shown)
            if isinstance(service, Mapping) and service.get("image"):
                imaged.add(name)
    return [
        _refused("a service without `image:`", shown, name)
        for name, shown in first.items()
        if name not in imaged
    ]


def _ports(ports: list, service: str, shown: str, found: list[Finding]) -> list:
    """Ports without a host IP: Swarm's routing mesh cannot bind one, and `docker stack
    deploy` would drop the IP silently, publishing `127.0.0.1:5432:5432` on every interface of
    every node. Such a port is taken out (K002), never widened."""
    kept = []
    for port in ports:
        text = str(port)
        bound = isinstance(port, str) and text.count(":") >= 2
        bound = bound or (isinstance(port, Mapping) and bool(port.get("host_ip")))
        if bound:
            why = "Swarm cannot bind a host IP and would publish it on every interface"
            found.append(_stripped(f"port {text}", why, shown, service))
            continue
        kept.append(port)
    return kept


def stack_copy_name(shown: str) -> str:
    """The file the stack's copy of base file `shown` is written to, beside it (relative paths
    in it keep their meaning): `docker-compose.prod.yml` -> `docker-compose.prod.stack.yml`."""
    stem = shown.rsplit(".", 1)[0] if shown.endswith((".yml", ".yaml")) else shown
    return f"{stem}.stack.yml"


def _stripped(what: str, why: str, shown: str, service: str | None = None) -> Finding:
    return warning("K002", f"{what} left out of the stack: {why}", service=service, file=shown)


def _refused(what: str, shown: str, service: str | None = None) -> Finding:
    return error(
        "K001",
        f"{what} is not supported by docker stack deploy (Compose file format 3)",
        fix="remove it from the base compose file for the Swarm path, or deploy with Compose",
        service=service,
        file=shown,
    )


# --- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFact:
    """One task of a service, as the manager reports it."""

    service: str  # the compose service name (without the `<stack>_` prefix)
    task_id: str
    node_id: str
    node: str  # the node's hostname ("" unknown)
    state: str  # Status.State: running, starting, pending, failed, ...
    container_id: str = ""
    message: str = ""  # Status.Err or Status.Message


def convergence_findings(service: str, desired: int | None, tasks: list[TaskFact]) -> list[Finding]:
    """K004 when fewer tasks run than the service wants (`desired` None: a global service,
    judged by its tasks alone), or when a task that should run does not; never a value."""
    running = [t for t in tasks if t.state == "running"]
    found = []
    for task in tasks:
        if task.state != "running":
            why = f": {task.message}" if task.message else ""
            message = (
                f"task {task.task_id[:12]} on {task.node or task.node_id[:12]} is {task.state}{why}"
            )
            found.append(error("K004", message, service=service))
    if desired is not None and len(running) < desired:
        found.append(
            error(
                "K004",
                f"{len(running)} of {desired} replicas running (not converged)",
                service=service,
                fix="`docker service ps` shows why; then `titan-deploy --swarm verify` again",
            )
        )
    return found


def unreachable(task: TaskFact, why: str) -> Finding:
    """K003: a task on a node whose engine the tool cannot reach is not verified."""
    return error(
        "K003",
        f"task {task.task_id[:12]} on node {task.node or task.node_id[:12]}: {why}; its "
        "secrets are NOT verified",
        service=task.service,
        fix="map the node to its engine in the manifest's deploy.nodes (ssh://user@host)",
    )


def removable(
    objects: Iterable[tuple[str, str, Mapping[str, str]]],
    project: str,
    referenced: set[str],
    keep: set[str],
) -> list[tuple[str, str]]:
    """The (id, name) of this project's objects (both labels match) that no service spec
    (current or previous) references and that are not in `keep` (names); others' secrets never."""
    return [
        (oid, name)
        for oid, name, labels in objects
        if is_ours(labels, project) and oid not in referenced and name not in keep
    ]


# --- rolling updates that cannot finish ---------------------------------------------------------


def merged_services(bodies: Iterable[tuple[str, Mapping]]) -> dict[str, dict]:
    """Each service's settings over the stack files in order, mappings merged key by key and
    any other value replaced (as `docker stack deploy` merges `-c` files)."""
    out: dict[str, dict] = {}
    for _, body in bodies:
        for name, service in (body.get("services") or {}).items():
            if isinstance(service, Mapping):
                out[str(name)] = _merge(out.get(str(name), {}), service)
    return out


def _merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
        )
    return out


def update_deadlocks(services: Mapping[str, Mapping], nodes: int) -> list[Finding]:
    """K007 for an update or rollback order that can never finish on `nodes` schedulable
    nodes: `start-first` starts the new task before it stops the old one, so it needs a free
    slot; with `max_replicas_per_node` x nodes slots all taken by the replicas, or a port
    published in host mode on every node, the new task is never placed and the update (or a
    rotation waiting on it) hangs."""
    found = []
    for name, service in sorted(services.items()):
        deploy = service.get("deploy") or {}
        if not isinstance(deploy, Mapping) or deploy.get("mode", "replicated") != "replicated":
            continue
        replicas = int(deploy.get("replicas", 1) or 0)
        per_node = (deploy.get("placement") or {}).get("max_replicas_per_node")
        host_ports = any(
            isinstance(p, Mapping) and p.get("mode") == "host" and p.get("published")
            for p in service.get("ports") or []
        )
        for key in ("update_config", "rollback_config"):
            if (deploy.get(key) or {}).get("order") != "start-first":
                continue
            why = ""
            if per_node and replicas >= int(per_node) * nodes:
                why = (
                    f"{replicas} replica(s) at most {per_node} per node on {nodes} node(s) leave "
                    "no slot for the new task"
                )
            elif host_ports and replicas >= nodes:
                why = f"a port published in host mode is taken on all {nodes} node(s)"
            if why:
                found.append(
                    error(
                        "K007",
                        f"deploy.{key}.order start-first can never finish: {why}",
                        service=name,
                        fix="use order stop-first, or allow one more replica per node (or node)",
                    )
                )
    return found
