"""Docker Swarm through the engine's API and the docker CLI (README "Several hosts").

Secrets are created with the Docker SDK (`create_secret`: the value travels base64-encoded in
the request body over the API socket, never in argv, an environment or a temp file). The stack
itself is deployed by `docker stack deploy` (it owns the Compose-to-service translation, as
Compose owns it on one host) with `--resolve-image never`: images are used as the nodes have
them, no registry is asked. Everything returned is plain data; the decisions are core/swarm.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from titan_deploy.core.containers import ContainerInfo, FileStat
from titan_deploy.core.manifest_validate import SECRETS_MOUNT
from titan_deploy.core.swarm import STACK_LABEL, TaskFact
from titan_deploy.core.swarm_converge import LIVE_DESIRED, LiveTask, spec_essence
from titan_deploy.errors import EngineUnreachable, RuntimeFailure
from titan_deploy.io.engine import MAX_WORKERS, Engine, ExecResult, _api_reason
from titan_deploy.io.enginestreams import _log_payloads

CLI_TIMEOUT = 300  # seconds for one `docker stack ...` call


class NotAManager(RuntimeFailure):
    """The engine is not a swarm manager (exit 3)."""


class Swarm:
    """The swarm calls the tool needs, on a manager's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.api = engine.client.api

    def node_id(self) -> str:
        """This manager's node id. NotAManager (exit 3) when the engine is not a swarm
        manager (`docker swarm init` makes it one)."""
        info = self.engine._call("read the engine's info", self.api.info)
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise NotAManager(
                "the Docker engine is not a swarm manager (swarm state "
                f"{swarm.get('LocalNodeState') or 'unknown'}): run `docker swarm init` (or "
                "point DOCKER_HOST at a manager), or deploy without --swarm"
            )
        return str(swarm.get("NodeID") or "")

    # --- secrets --------------------------------------------------------------------------------

    def secrets(self, label: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
        """(id, name, labels) of every secret object (with `label`: only those carrying it)."""
        filters = {"label": [label]} if label else None
        found = self.engine._call("list swarm secrets", lambda: self.api.secrets(filters=filters))
        return [
            (s["ID"], s["Spec"]["Name"], dict(s["Spec"].get("Labels") or {})) for s in found or []
        ]

    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> str:
        """Create a secret object from `data` (over the API socket only); its id."""
        made = self.engine._call(
            "create a swarm secret",
            lambda: self.api.create_secret(name=name, data=data, labels=labels),
        )
        return str(made["ID"])

    def remove_secret(self, secret_id: str) -> str:
        """Remove a secret object; "" when removed (or already gone), else the engine's reason
        (e.g. still in use by a service): never an exception."""
        import docker.errors

        try:
            self.api.remove_secret(secret_id)
        except docker.errors.NotFound:
            return ""
        except docker.errors.APIError as exc:
            return _api_reason(exc)
        return ""

    def referenced_secrets(self) -> set[str]:
        """The secret ids any service on the swarm references, in its spec or the previous
        spec a rollback would return to, and any task not yet over uses (a task made from an
        older spec still runs, or stops, or waits to start, with its objects): an object is
        never removed under a task (the engine's own check looks at service specs only)."""
        found = self.engine._call("list swarm services", self.api.services)
        out: set[str] = set()
        for service in found or []:
            for key in ("Spec", "PreviousSpec"):
                container = container_spec({"Spec": service.get(key)})
                out.update(s.get("SecretID", "") for s in container.get("Secrets") or [])
        tasks = self.engine._call("list swarm tasks", self.api.tasks)
        for task in tasks or []:
            if not task_over(task):
                spec = (task.get("Spec") or {}).get("ContainerSpec") or {}
                out.update(s.get("SecretID", "") for s in spec.get("Secrets") or [])
        return out

    # --- services, tasks, nodes -------------------------------------------------------------

    def services(self, stack: str) -> list[dict[str, Any]]:
        """The stack's services as the engine describes them."""
        filters = {"label": [f"{STACK_LABEL}={stack}"]}
        return (
            self.engine._call("list swarm services", lambda: self.api.services(filters=filters))
            or []
        )

    def tasks(self, service_id: str) -> list[dict[str, Any]]:
        """The service's tasks that should be running (desired state running)."""
        filters = {"service": service_id, "desired-state": "running"}
        return self.engine._call("list swarm tasks", lambda: self.api.tasks(filters=filters)) or []

    def live_tasks(self, service_id: str) -> list[dict[str, Any]]:
        """The service's tasks the orchestrator still means to run: desired state running, or
        ready (a replacement waiting for the task it replaces to stop)."""
        filters = {"service": service_id}
        found = self.engine._call("list swarm tasks", lambda: self.api.tasks(filters=filters))
        return [t for t in found or [] if str(t.get("DesiredState") or "") in LIVE_DESIRED]

    def schedulable(self) -> int:
        """How many nodes are ready and active (tasks can be placed there)."""
        found = self.engine._call("list swarm nodes", self.api.nodes)
        return sum(
            1
            for n in found or []
            if (n.get("Status") or {}).get("State") == "ready"
            and (n.get("Spec") or {}).get("Availability") == "active"
        )

    def nodes(self) -> dict[str, str]:
        """Node id -> hostname."""
        found = self.engine._call("list swarm nodes", self.api.nodes)
        return {n["ID"]: ((n.get("Description") or {}).get("Hostname") or "") for n in found or []}


class NodeEngines:
    """The engine of each swarm node, as verify and the rotation reach a task (README "Several
    hosts"): this manager's own for its tasks, the endpoint `endpoint_of(hostname)` names (the
    manifest's deploy.nodes) for another node's. A connected engine is kept; a node that could
    not be reached is asked again next time (it may come back)."""

    def __init__(
        self, local_id: str, local: Engine, endpoint_of: Callable[[str], str | None]
    ) -> None:
        self.engines: dict[str, Engine] = {local_id: local}  # node id -> its engine
        self.endpoint_of = endpoint_of

    def engine(self, task: TaskFact) -> tuple[Engine | None, str]:
        """(the engine of the node `task` runs on, "") or (None, why it cannot be reached)."""
        if task.node_id in self.engines:
            return self.engines[task.node_id], ""
        endpoint = self.endpoint_of(task.node)
        if endpoint is None:
            return None, "the manifest's deploy.nodes has no endpoint for it"
        engine, why = connect_node(endpoint)
        if engine is not None:
            self.engines[task.node_id] = engine
        return engine, why


class NodeUnreachable(RuntimeFailure):
    """A task runs on a node whose engine the tool cannot reach (exit 3; a rotation step that
    meets one fails and rolls back)."""


class SwarmEngine(Engine):
    """An Engine on a swarm manager whose `containers(stack, service)` are the containers of
    the stack's tasks that should be running, on EVERY node (not the exited ones of earlier
    tasks), each named by its compose service: what the rotation's health waits, exec, log
    proofs, probes and auth guard read. A container is then read (inspect, exec, logs, files)
    through the engine of the node it runs on (NodeEngines, as verify reaches it); a task on a
    node that cannot be reached raises NodeUnreachable: never a silent pass."""

    def __init__(self, client: Any, endpoint_of: Callable[[str], str | None] = lambda _: None):
        super().__init__(client)
        self.endpoint_of = endpoint_of
        self._local = Engine(client)  # this manager's node
        self._nodes: NodeEngines | None = None
        self._owner: dict[str, tuple[Engine, TaskFact]] = {}  # container id -> its node

    @property
    def nodes(self) -> NodeEngines:
        """The node engines (this manager's own engine for its node), kept for the run."""
        if self._nodes is None:
            self._nodes = NodeEngines(Swarm(self).node_id(), self._local, self.endpoint_of)
        return self._nodes

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        swarm = Swarm(self)
        hostnames = swarm.nodes()
        out = []
        for entry in swarm.services(project):
            short = short_name(entry, project)
            if service is not None and short != service:
                continue
            for task in swarm.tasks(entry["ID"]):
                fact = task_fact(task, short, hostnames)
                if not fact.container_id:
                    continue
                engine, why = self.nodes.engine(fact)
                if engine is None:
                    raise NodeUnreachable(unreached(fact, why))
                self._owner[fact.container_id] = (engine, fact)
                info = self._on(fact.container_id, lambda e, cid: e.inspect(cid))
                out.append(replace(info, service=short, number=int(task.get("Slot") or 0)))
        return sorted(out, key=lambda c: (c.service, c.number, c.name))

    def _on(self, container_id: str, call: Callable[[Engine, str], Any]) -> Any:
        """`call(engine, container_id)` on the engine of the node the container runs on (a
        container `containers` did not list: this manager's); NodeUnreachable when that node's
        engine stopped answering."""
        owner = self._owner.get(container_id)
        if owner is None:
            return call(self._local, container_id)
        engine, fact = owner
        try:
            return call(engine, container_id)
        except EngineUnreachable as exc:
            why = f"its engine does not answer any more ({exc})"
            raise NodeUnreachable(unreached(fact, why)) from None

    def inspect(self, container_id: str) -> ContainerInfo:
        return self._on(container_id, lambda e, cid: e.inspect(cid))

    def read_file(self, container_id: str, path: str) -> FileStat:
        return self._on(container_id, lambda e, cid: e.read_file(cid, path))

    def read_text(self, container_id: str, path: str) -> str | None:
        return self._on(container_id, lambda e, cid: e.read_text(cid, path))

    def logs(self, container_id: str, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return self._on(container_id, lambda e, cid: e.logs(cid, *args, **kwargs))

    def exec(self, container_id: str, *args: Any, **kwargs: Any) -> ExecResult:
        return self._on(container_id, lambda e, cid: e.exec(cid, *args, **kwargs))

    def kill(self, container_id: str, signal: str) -> None:
        self._on(container_id, lambda e, cid: e.kill(cid, signal))


def unreached(task: TaskFact, why: str) -> str:
    """How a rotation names a task on a node it cannot reach (never a value)."""
    node = task.node or task.node_id[:12]
    return f"{task.service}: task {task.task_id[:12]} on node {node} cannot be reached: {why}"


def service_logs(
    engine: Engine, service_id: str, since: int | None = None, until: int | None = None
) -> Iterator[bytes]:
    """The logs of every task of a service, on every node, through the manager (what
    `docker service logs --timestamps` prints), as byte chunks that may end mid-line.
    `since`/`until`: Unix seconds (None: no bound)."""
    api = engine.client.api
    params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 0}
    params["tail"] = "all"
    if since is not None and since > 0:
        params["since"] = since
    if until is not None and until > 0:
        params["until"] = until
    response = engine._call(
        "read service logs",
        lambda: api._get(api._url("/services/{0}/logs", service_id), params=params, stream=True),
    )
    engine._call("read service logs", lambda: api._raise_for_status(response))
    return _log_payloads(response, tty=False)


def container_spec(service: dict[str, Any]) -> dict[str, Any]:
    """A service's container spec (image, env, args, labels, healthcheck)."""
    return ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}


def desired_replicas(service: dict[str, Any]) -> int | None:
    """A replicated service's replica count; None for a global one."""
    mode = (service.get("Spec") or {}).get("Mode") or {}
    replicated = mode.get("Replicated")
    return None if replicated is None else int(replicated.get("Replicas") or 0)


def short_name(service: dict[str, Any], stack: str) -> str:
    """The compose service name of a stack service (`<stack>_<name>` -> `<name>`)."""
    name = str((service.get("Spec") or {}).get("Name") or "")
    return name.removeprefix(f"{stack}_")


def update_state(service: dict[str, Any]) -> str:
    """The service's rolling update state (`completed`, `updating`, `rollback_completed`,
    `paused`, ...; "" when none ran)."""
    return str((service.get("UpdateStatus") or {}).get("State") or "")


def update_message(service: dict[str, Any]) -> str:
    """The service's UpdateStatus.Message as the engine wrote it ("" when none): not scrubbed."""
    return str((service.get("UpdateStatus") or {}).get("Message") or "")


def task_fact(task: dict[str, Any], service: str, nodes: dict[str, str]) -> TaskFact:
    """One task as a TaskFact (the container id once the task has one)."""
    status = task.get("Status") or {}
    node_id = str(task.get("NodeID") or "")
    return TaskFact(
        service=service,
        task_id=str(task.get("ID") or ""),
        node_id=node_id,
        node=nodes.get(node_id, ""),
        state=str(status.get("State") or "unknown"),
        container_id=str((status.get("ContainerStatus") or {}).get("ContainerID") or ""),
        message=str(status.get("Err") or ""),
    )


TASK_OVER = ("complete", "shutdown", "failed", "rejected", "remove", "orphaned")


def task_over(task: dict[str, Any]) -> bool:
    """Whether the task will never run again: not meant to (desired state past running) and
    its container no longer runs (a terminal observed state)."""
    desired = str(task.get("DesiredState") or "")
    state = str((task.get("Status") or {}).get("State") or "")
    return desired not in ("", *LIVE_DESIRED) and state in TASK_OVER


def live_task(task: dict[str, Any], service: dict[str, Any]) -> LiveTask:
    """A live task as core/swarm_converge judges it (made from `service`'s current spec?)."""
    spec = ((task.get("Spec") or {}).get("ContainerSpec")) or {}
    return LiveTask(
        task_id=str(task.get("ID") or ""),
        desired=str(task.get("DesiredState") or ""),
        state=str((task.get("Status") or {}).get("State") or "unknown"),
        current=spec_essence(spec) == spec_essence(container_spec(service)),
    )


def secret_targets(task: dict[str, Any]) -> tuple[str, ...]:
    """Where the task's secrets are mounted (absolute paths): Swarm mounts them itself, so
    the container's inspect lists none of them under Mounts."""
    spec = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Secrets") or []
    out = []
    for entry in spec:
        name = str((entry.get("File") or {}).get("Name") or "")
        if name:
            out.append(name if name.startswith("/") else f"{SECRETS_MOUNT}/{name}")
    return tuple(out)


def secret_objects(task: dict[str, Any]) -> dict[str, tuple[str, int, int, int]]:
    """Mount path -> (object name, uid, gid, mode) of each secret the task's spec mounts."""
    spec = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Secrets") or []
    out = {}
    for entry in spec:
        file = entry.get("File") or {}
        name = str(file.get("Name") or "")
        if not name:
            continue
        path = name if name.startswith("/") else f"{SECRETS_MOUNT}/{name}"
        ids = [int(str(v)) if str(v).isdigit() else 0 for v in (file.get("UID"), file.get("GID"))]
        mode = file.get("Mode")
        out[path] = (
            str(entry.get("SecretName") or ""),
            ids[0],
            ids[1],
            mode if isinstance(mode, int) else 0,
        )
    return out


def connect_node(endpoint: str, timeout: int = 15) -> tuple[Engine | None, str]:
    """(an Engine on a node's endpoint, "") or (None, why not): never an exception, so an
    unreachable node becomes a finding. ssh:// goes through the `ssh` binary (its config)."""
    import docker
    import docker.errors
    import requests.exceptions

    try:
        client = docker.DockerClient(
            base_url=endpoint,
            timeout=timeout,
            max_pool_size=MAX_WORKERS,
            use_ssh_client=endpoint.startswith("ssh://"),
        )
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        return None, f"its engine at {endpoint} does not answer ({type(exc).__name__})"
    return Engine(client), ""


def stack_deploy(project_dir: Path, files: Sequence[str], stack: str) -> None:
    """`docker stack deploy --resolve-image never --prune -c F... STACK` in the project dir
    (`--prune`: the stack's services no file names any more are removed, as Compose's
    `--remove-orphans` does; no other stack is touched). The
    environment is this process's (the stack interpolates ${VAR} from it); no value is on
    argv. RuntimeFailure (exit 3) with the CLI's first error line when it fails."""
    argv = ["docker", "stack", "deploy", "--resolve-image", "never", "--prune"]
    for file in files:
        argv += ["-c", file]
    _docker([*argv, stack], project_dir, "docker stack deploy")


def stack_rm(stack: str) -> None:
    """`docker stack rm STACK` (services and networks; secrets are removed by the caller)."""
    _docker(["docker", "stack", "rm", stack], Path("."), "docker stack rm")


def _docker(argv: list[str], cwd: Path, what: str) -> None:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
            check=False,
        )
    except FileNotFoundError:
        raise RuntimeFailure(f"{what}: the docker CLI is not installed") from None
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"{what} did not finish within {CLI_TIMEOUT}s") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        said = lines[-1][:300] if lines else f"exit {done.returncode}"
        raise RuntimeFailure(f"{what} failed: {said}")
