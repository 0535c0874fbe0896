"""The Docker SDK adapter: find a service's containers, read /run/secrets, inspect config, read
logs (ARCHITECTURE.md "Layers").

`probe` reads what verify needs from each container once, in parallel. On the engine's own host
and as root it uses the container's own view through /proc (io/procfs.py): the mount's real
inode and content and the processes actually running. Otherwise (a remote engine, not root,
another pid namespace) it falls back to the archive API — it works in distroless and scratch
images and its tar header carries the uid/gid/mode the container sees — and to `docker top` for
the processes. Everything this module returns is plain data (dataclasses) so the verification
logic stays pure. The SDK is imported lazily: `check-secrets` must not pay for it.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from titan_deploy.core.containers import ContainerInfo, ContainerView, FileStat, Process
from titan_deploy.errors import EngineUnreachable, RuntimeFailure
from titan_deploy.io import enginehttp
from titan_deploy.io.enginestreams import (
    _log_payloads,
    _read_frames,
    _stat_from_tar,
    _stats_from_dir_tar,
)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
MAX_WORKERS = 16
LOCAL_BASE_URL = "http+docker://localhost"  # docker-py's base_url for a unix socket (ssh differs)
TOP_PS_ARGS = "-o pid,fsuid,fsgid,supgid,comm,args"


class Engine:
    """A connected Docker client with the few calls the tool needs."""

    def __init__(self, client: Any, local: bool | None = None) -> None:
        """`local` False forces the archive/top fallback; None decides: a unix socket and root."""
        self.client = client
        if local is False:
            self.local_reason = "the container's own view is disabled"
        elif getattr(getattr(client, "api", None), "base_url", "") != LOCAL_BASE_URL:
            self.local_reason = "the engine is not on this host (not a local unix socket)"
        else:
            from titan_deploy.io import procfs

            self.local_reason = procfs.root_available()
        self._pids: dict[str, int] = {}  # container id -> its process, as last inspected
        self._lean = enginehttp.local_api(client)  # inspect over the unix socket, or None

    # --- containers -----------------------------------------------------------------------------

    def containers(self, project: str, service: str | None = None) -> list[ContainerInfo]:
        labels = [f"{PROJECT_LABEL}={project}"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = self._call(
            "list containers",
            lambda: self.client.api.containers(all=True, filters={"label": labels}),
        )
        ids = [c["Id"] for c in found]
        return sorted(_parallel(self.inspect, ids), key=_order)

    def survey(
        self, project: str, paths: Mapping[str, list[str]]
    ) -> tuple[list[ContainerInfo], dict[str, ContainerView]]:
        """The containers of `project`'s services named in `paths` (service -> paths inside
        its containers), each inspected once and read once, in one parallel pass: one list
        call, then, per container, its inspect followed at once by its `probe` view (no
        barrier between the two, one thread pool). Out: (the containers, sorted as
        `containers` sorts them; container id -> ContainerView). Raises as `containers`."""
        labels = [f"{PROJECT_LABEL}={project}"]
        found = self._call(
            "list containers",
            lambda: self.client.api.containers(all=True, filters={"label": labels}),
        )
        ids = [c["Id"] for c in found if (c.get("Labels") or {}).get(SERVICE_LABEL) in paths]

        def one(container_id: str) -> tuple[ContainerInfo, ContainerView]:
            info = self.inspect(container_id)
            return info, self._probe(info, paths.get(info.service, []))

        pairs = _parallel(one, ids)
        views = {info.id: view for info, view in pairs}
        return sorted((info for info, _ in pairs), key=_order), views

    def inspect(self, container_id: str) -> ContainerInfo:
        what, api = "inspect a container", self.client.api
        if self._lean is None:
            attrs = self._call(what, lambda: api.inspect_container(container_id))
        else:  # the SDK's URL (its API version), fetched without requests (io/enginehttp.py)
            url = api._url("/containers/{0}/json", container_id)
            attrs = self._lean.get_json(what, url.removeprefix(api.base_url))
        info = container_info(attrs)
        self._pids[info.id] = info.pid  # read_text's own view of this container (/proc)
        return info

    # --- files ----------------------------------------------------------------------------------

    def read_file(self, container_id: str, path: str) -> FileStat:
        """Hash one file inside a container through the archive API (no exec, no shell)."""
        import docker.errors

        try:
            stream, _stat = self.client.api.get_archive(container_id, path)
            data = b"".join(stream)
        except docker.errors.NotFound:
            return FileStat(path=path, exists=False)
        except docker.errors.APIError as exc:
            return FileStat(path=path, exists=False, error=_api_reason(exc))
        return _stat_from_tar(path, data)

    def _read_dir(self, container_id: str, directory: str, paths: list[str]) -> list[FileStat]:
        import docker.errors

        if len(paths) == 1:
            return [self.read_file(container_id, paths[0])]
        try:
            stream, _stat = self.client.api.get_archive(container_id, directory)
            data = b"".join(stream)
        except docker.errors.NotFound:
            return [FileStat(path=p, exists=False) for p in paths]
        except docker.errors.APIError as exc:
            return [FileStat(path=p, exists=False, error=_api_reason(exc)) for p in paths]
        return _stats_from_dir_tar(directory, data, paths)

    def probe(
        self, containers: list[ContainerInfo], paths: Mapping[str, list[str]]
    ) -> dict[str, ContainerView]:
        """Read each container once, in parallel: the files at `paths[id]` and its processes.

        The container's own view (/proc/<pid>/root, its cgroup's processes) when this host runs
        the engine and the tool is root; else the archive API and `docker top` (the view's
        `note` says why). Out: container id -> ContainerView. Engine errors on one container
        become a file error or unknown processes there, never an exception."""
        views = _parallel(lambda c: self._probe(c, paths.get(c.id, [])), containers)
        return {info.id: view for info, view in zip(containers, views, strict=True)}

    def _probe(self, info: ContainerInfo, paths: list[str]) -> ContainerView:
        from titan_deploy.io import procfs

        note = self.local_reason
        if not note:
            try:
                return self._probe_proc(info, paths)
            except procfs.Unavailable as exc:
                note = str(exc)
        files = {stat.path: stat for stat in self._read_paths(info.id, paths)}
        return ContainerView(files=files, processes=self._top(info.id), note=note)

    def _probe_proc(self, info: ContainerInfo, paths: list[str]) -> ContainerView:
        from titan_deploy.io import procfs

        with procfs.open_container(info.pid, info.id) as pid_fd:
            files = procfs.read_files(pid_fd, paths)
            pids = procfs.container_pids(pid_fd, info.pid)
        wanted = frozenset(paths)
        processes = tuple(p for p in (procfs.read_process(pid, wanted) for pid in pids) if p)
        rest = [p for p in paths if p not in files]  # a path through a symlink: the archive API
        files.update({stat.path: stat for stat in self._read_paths(info.id, rest)})
        return ContainerView(files=files, processes=processes or None)

    def _read_paths(self, container_id: str, paths: list[str]) -> list[FileStat]:
        groups: dict[str, list[str]] = {}
        for path in paths:
            groups.setdefault(path.rsplit("/", 1)[0] or "/", []).append(path)
        return [s for d, group in groups.items() for s in self._read_dir(container_id, d, group)]

    def _top(self, container_id: str) -> tuple[Process, ...] | None:
        """The container's processes through `docker top` (ps on the engine's host), or None."""
        import docker.errors
        import requests.exceptions

        try:
            doc = self.client.api.top(container_id, ps_args=TOP_PS_ARGS)
        except (docker.errors.APIError, requests.exceptions.RequestException):
            return None
        return processes_from_top(doc)

    def read_text(self, container_id: str, path: str) -> str | None:
        """A small non-secret text file (e.g. /etc/passwd) from a container, or None.

        Read through the container's own root (/proc, no engine call) when `probe` could use
        it for a container this Engine inspected, else through the archive API."""
        import docker.errors

        pid = self._pids.get(container_id, 0)
        if not self.local_reason and pid > 0:
            from titan_deploy.io import procfs

            with contextlib.suppress(procfs.Unavailable):
                with procfs.open_container(pid, container_id) as pid_fd:
                    found = procfs.read_text(pid_fd, path)
                if found is not None:
                    return found
        try:
            stream, _ = self.client.api.get_archive(container_id, path)
            data = b"".join(stream)
        except docker.errors.APIError:
            return None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            if member is None:
                return None
            handle = tar.extractfile(member)
            return handle.read().decode("utf-8", "replace") if handle else None

    # --- logs -----------------------------------------------------------------------------------

    def logs(
        self,
        container_id: str,
        since: int | None = None,
        until: int | None = None,
        timestamps: bool = True,
    ) -> Iterator[bytes]:
        """The container's stdout+stderr (what `docker logs` prints, the two streams in the
        engine's order) as a stream of byte chunks of up to about LOG_READ bytes; a chunk may
        end mid-line. `since`/`until`: Unix seconds (None: no bound). Raises the SDK's errors
        as the SDK's own `logs` did (NotFound for a container that is gone).

        The SDK's stream reads each frame (one line) with two reads; this reads the engine's
        multiplexed stream in LOG_READ blocks and splits the frames itself (issue 15)."""
        api = self.client.api
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "timestamps": int(timestamps),
            "follow": 0,
            "tail": "all",
        }
        if since is not None and since > 0:  # the SDK's rules: a positive bound, else none
            params["since"] = since
        if until is not None and until > 0:
            params["until"] = until
        tty = bool(api.inspect_container(container_id)["Config"].get("Tty"))
        response = api._get(
            api._url("/containers/{0}/logs", container_id), params=params, stream=True
        )
        api._raise_for_status(response)
        return _log_payloads(response, tty)

    def image_history_lines(self, image: str) -> list[str]:
        """What an image was built with: each layer's CreatedBy, plus its config env/cmd/labels.

        A value baked in with ENV, ARG or RUN shows up here even when no container prints it.
        """
        api = self.client.api
        history = self._call("read image history", lambda: api.history(image))
        attrs = self._call("inspect an image", lambda: api.inspect_image(image))
        config = attrs.get("Config") or {}
        lines = [f"layer {layer.get('CreatedBy') or ''}" for layer in history or []]
        lines += [f"env {item}" for item in config.get("Env") or []]
        lines += [
            f"cmd {arg}" for arg in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
        ]
        lines += [f"label {k}={v}" for k, v in (config.get("Labels") or {}).items()]
        return lines

    # --- exec and mounts (rotation) ---------------------------------------------------------------

    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        user: str = "",
        timeout: float = 60.0,
    ) -> ExecResult:
        """Run argv inside a running container; `stdin` (e.g. SQL holding a credential) goes
        over the exec's attached socket, never into argv or env. No shell is involved."""
        api = self.client.api
        exec_id = self._call(
            "exec in a container",
            lambda: api.exec_create(
                container_id, argv, stdin=stdin is not None, stdout=True, stderr=True, user=user
            )["Id"],
        )
        sock = self._call("exec in a container", lambda: api.exec_start(exec_id, socket=True))
        raw = getattr(sock, "_sock", sock)
        try:
            raw.settimeout(timeout)
            if stdin is not None:
                raw.sendall(stdin)
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_WR)
            stdout, stderr = _read_frames(raw, time.monotonic() + timeout)
        except TimeoutError:
            raise RuntimeFailure(
                f"`{argv[0]}` inside the container did not finish within {timeout:.0f}s"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                sock.close()
        info = self._call("inspect an exec", lambda: api.exec_inspect(exec_id))
        code = info.get("ExitCode")
        return ExecResult(exit_code=-1 if code is None else int(code), stdout=stdout, stderr=stderr)

    def kill(self, container_id: str, signal: str) -> None:
        """Send `signal` (a name: SIGHUP) to the container's main process (a reload)."""
        self._call("signal a container", lambda: self.client.api.kill(container_id, signal=signal))

    def mounts_of(self, sources: list[str]) -> dict[str, list[str]]:
        """Host path -> names of the containers (any state, any project) bind-mounting it."""
        wanted = set(sources)
        found = self._call("list containers", lambda: self.client.api.containers(all=True))
        out: dict[str, list[str]] = {}
        for entry in found:
            names = entry.get("Names") or [entry.get("Id", "")[:12]]
            for mount in entry.get("Mounts") or []:
                source = mount.get("Source")
                if source in wanted:
                    out.setdefault(source, []).append(names[0].lstrip("/"))
        return out

    def _call(self, what: str, fn):
        import docker.errors
        import requests.exceptions

        try:
            return fn()
        except requests.exceptions.ConnectionError:
            raise EngineUnreachable(f"cannot {what}: the Docker engine is unreachable") from None
        except docker.errors.APIError as exc:
            raise RuntimeFailure(f"cannot {what}: {_api_reason(exc)}") from None


def _order(info: ContainerInfo) -> tuple[str, int, str]:
    return (info.service, info.number, info.name)


def _parallel(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """fn over items, in order, on at most MAX_WORKERS threads (none for zero or one item)."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def connect(timeout: int = 30) -> Engine:
    """Connect to the engine named by DOCKER_HOST (or the default socket) and ping it."""
    import docker
    import docker.errors
    import requests.exceptions

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=timeout, max_pool_size=MAX_WORKERS)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        raise EngineUnreachable(
            f"the Docker engine at {host} does not answer (is dockerd running? "
            "`make engine` starts one; check DOCKER_HOST)"
        ) from None
    return Engine(client)


def container_info(attrs: dict[str, Any]) -> ContainerInfo:
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    host = attrs.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    env = dict(
        item.split("=", 1) if "=" in item else (item, "") for item in config.get("Env") or []
    )
    command = tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    health = (state.get("Health") or {}).get("Status")
    mounts = attrs.get("Mounts")
    return ContainerInfo(
        id=attrs.get("Id", ""),
        name=(attrs.get("Name") or "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        number=int(labels.get(NUMBER_LABEL, "0") or 0),
        status=state.get("Status", "unknown"),
        restarting=bool(state.get("Restarting")),
        restart_count=int(attrs.get("RestartCount") or 0),
        exit_code=int(state.get("ExitCode") or 0),
        health=health,
        started_at=state.get("StartedAt", ""),
        user=config.get("User") or "",
        group_add=tuple(str(g) for g in host.get("GroupAdd") or ()),
        env=env,
        command=command,
        labels=labels,
        image=config.get("Image", ""),
        healthcheck=tuple((config.get("Healthcheck") or {}).get("Test") or ()),
        pid=int(state.get("Pid") or 0),
        mounts=None if mounts is None else _destinations(mounts, host.get("Tmpfs") or {}),
    )


def _destinations(mounts: list[dict[str, Any]], tmpfs: dict[str, str]) -> tuple[str, ...]:
    """Every mount point inside the container: binds and volumes, plus `tmpfs:` ones (which
    inspect lists only under HostConfig.Tmpfs)."""
    found = [m.get("Destination", "") for m in mounts] + list(tmpfs)
    return tuple(d for d in found if d)


def processes_from_top(doc: Mapping[str, Any]) -> tuple[Process, ...] | None:
    """Processes from a `docker top` answer made with TOP_PS_ARGS (None: not that shape).

    ps joins argv with spaces, so `argv` is approximate; capabilities and environment are
    unknown (uid 0 is then assumed to read anything, and every process counts as a reader)."""
    titles = [str(t).upper() for t in doc.get("Titles") or []]
    if titles[:4] != ["PID", "FSUID", "FSGID", "SUPGID"] or len(titles) != 6:
        return None
    out = []
    for row in doc.get("Processes") or []:
        if len(row) != 6 or not all(str(x).isdigit() for x in row[:3]):
            continue
        groups = frozenset(int(g) for g in str(row[3]).split(",") if g.isdigit())
        out.append(
            Process(
                pid=int(row[0]),
                comm=str(row[4]),
                uid=int(row[1]),
                gid=int(row[2]),
                groups=groups,
                argv=tuple(str(row[5]).split()),
            )
        )
    return tuple(out) or None


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes = field(repr=False, default=b"")
    stderr: bytes = field(repr=False, default=b"")


def _api_reason(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None) or str(exc)
    return str(explanation).splitlines()[0][:200]
