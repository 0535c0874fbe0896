"""Verification of a running stack (README "What `verify` proves"), as a pure function of
gathered facts.

The op gathers facts (container inspect data; each mounted secret as the container sees it; the
processes running in each container; the host files' hashes and identities, or the snapshot `up`
took when check-secrets passed); this module decides. One row per (service, secret); a finding
for each failed check naming the container, never a value. Values are compared by hash or by
equality inside this process and never leave it.

What a row proves, and how (its `method`):

- `proc-root`: the file was opened through the container's own root (/proc/<pid>/root), so its
  hash is what the container's mount really holds — a host file replaced by a rename (rsync -a,
  cp -p + mv, tar x, install -p) keeps its old inode and content there. Its ctime says whether
  that inode changed after the container started (an in-place write, even with the old mtime
  put back): then the service runs with a value it read before.
- `inode`: the file could be stat'ed but not read there: its device and inode must be the host
  file's.
- `archive+ctime`: the engine's archive API (remote engine, not root). It may re-read the host
  path, so it cannot see a stale mount; the host file's ctime (a rename or a write sets it, and
  nothing can set it back) after the container started is what names the pair.
- `+config-user`: readability was judged from the configured User and group_add, because no
  running process could be listed or none names the file; otherwise it is judged for each
  running process whose environment names the file (its fs uid, gid, groups and capabilities):
  an image that drops privileges loses group_add.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from titan_deploy.core.containers import (
    INODE,
    PROC_ROOT,
    SWARM_OBJECT,
    ContainerInfo,
    FileStat,
    Process,
    state_label,
)
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.identity import (  # noqa: F401 (re-exported)
    Identity,
    can_read,
    describe,
    process_can_read,
    resolve_identity,
)
from titan_deploy.core.leaks import (
    PatternSet,
    build_patterns,
    group_by_secret,
    hits_in_line,
    search_context,
)
from titan_deploy.core.lint import file_base
from titan_deploy.core.overlay import SECRETS_MOUNT, Mount, OverlayPlan, ServicePlan
from titan_deploy.core.timespec import parse_timestamp

CHECKS = ("mounted", "content", "readable", "env", "running", "no_leak")
CHECK_OF = {
    "V001": "mounted",
    "V002": "content",
    "V003": "readable",
    "V004": "env",
    "V005": "running",
    "V006": "no_leak",
    "V007": "env",  # X set beside X_FILE: the file is ignored
    "V008": "env",  # an X_FILE under /run/secrets where nothing is mounted
    "V009": "content",  # a config file that is not a fresh render (core/configs.py)
}
METHODS = {PROC_ROOT: "proc-root", INODE: "inode", SWARM_OBJECT: "swarm-object"}
ARCHIVE_METHOD = "archive+ctime"
CONFIG_USER = "+config-user"
CLOCK_SLACK = 1.0  # seconds between the engine's StartedAt and the filesystem's ctime


@dataclass(frozen=True)
class HostFile:
    """A secret file on the host: hash, times (epoch s), identity; `problem` when it must not be
    deployed at all (e.g. a symlink leading out of the secrets dir)."""

    sha256: str
    mtime: float
    ctime: float = 0.0
    dev: int = 0
    ino: int = 0
    problem: str = ""


@dataclass
class Facts:
    plan: OverlayPlan
    containers: dict[str, list[ContainerInfo]]  # service -> containers
    files: Mapping[tuple[str, str], FileStat]  # (container id, path) -> stat
    host: Mapping[str, HostFile]  # compose secret source -> host file now
    identities: Mapping[str, Identity]  # container id -> configured identity
    values: Mapping[str, bytes] = field(repr=False, default_factory=dict)  # secret -> value
    processes: Mapping[str, tuple[Process, ...]] = field(default_factory=dict)  # id -> running
    checked: Mapping[str, HostFile] | None = None  # source -> as check-secrets passed it (`up`)
    notes: Mapping[str, str] = field(default_factory=dict)  # id -> why its own view was not used
    fix_hints: Mapping[str, str] = field(default_factory=dict)  # secret -> V002 fix (core/drift)
    project: str = ""  # the compose project name (Project.name): a value equal to it is weak

    def __repr__(self) -> str:
        return f"Facts(services={len(self.containers)})"


Shared = tuple[Finding, frozenset[str] | None]  # a service-level finding and the rows it fails


def verify(facts: Facts) -> tuple[list[dict], list[Finding]]:
    """Rows (service, secret, containers, each check ok/FAIL, method, problem) and findings.

    A service-level finding (a leaked value, a `*_FILE` ignored or dangling) fails the rows of
    the mounts it concerns, or every row of the service when it concerns none of them."""
    rows: list[dict] = []
    findings: list[Finding] = []
    patterns = leak_patterns(facts)
    for svc in facts.plan.services:
        containers = facts.containers.get(svc.service, [])
        shared = list(_service_findings(svc, containers, facts, patterns))
        findings += [f for f, _ in shared]
        for mount in svc.mounts:
            mine = [f for f, targets in shared if targets is None or mount.target in targets]
            row, found = _verify_mount(svc.service, mount, containers, facts, mine)
            rows.append(row)
            findings += found
    return rows, findings


def _verify_mount(
    service: str,
    mount: Mount,
    containers: list[ContainerInfo],
    facts: Facts,
    shared: list[Finding],
) -> tuple[dict, list[Finding]]:
    row: dict = {"service": service, "secret": mount.label, "containers": len(containers)}
    found: list[Finding] = []
    methods: list[str] = []
    if not containers:
        found.append(
            error(
                "V000",
                "no container: the service is not deployed (run `titan-deploy up`)",
                service=service,
                secret=mount.secret,
            )
        )
    for info in containers:
        more, method = _check_container(service, mount, info, facts)
        found += more
        if method:
            methods.append(method)
    mine = found + shared
    failed = {CHECK_OF.get(f.code) for f in mine if f.severity == "error"}
    for check in CHECKS:
        row[check] = bool(containers) and check not in failed
    row["method"] = ",".join(dict.fromkeys(methods))
    row["problem"] = "; ".join(dict.fromkeys(f.message for f in mine if f.severity == "error"))
    return row, found


def _check_container(
    service: str, mount: Mount, info: ContainerInfo, facts: Facts
) -> tuple[list[Finding], str]:
    where = {"service": service, "secret": mount.secret}
    found: list[Finding] = []
    path = mount.container_path
    if info.status != "running" or info.restarting or info.health == "unhealthy":
        found.append(
            error(
                "V005",
                f"{info.name} is {state_label(info)} (restarts: {info.restart_count})",
                **where,
            )
        )
    for env in mount.envs:
        if info.env.get(env) != path:
            found.append(error("V004", f"{info.name}: {env} does not point at {path}", **where))
    stat = facts.files.get((info.id, path))
    if stat is None or not stat.exists:
        reason = f" ({stat.error})" if stat is not None and stat.error else ""
        found.append(error("V001", f"{info.name}: {path} is not mounted{reason}", **where))
        return found, ""
    if info.mounts is not None and not is_mounted(path, info.mounts):
        message = f"{info.name}: {path} is a file of the image, not mounted (baked in?)"
        found.append(error("V001", message, fix="rebuild the image without it", **where))
        return found, ""
    found += content_findings(info, mount, stat, facts)
    readable, by_config = _readable(info, mount, stat, facts)
    found += readable
    method = METHODS.get(stat.method, ARCHIVE_METHOD) + (CONFIG_USER if by_config else "")
    return found, method


def content_findings(
    info: ContainerInfo, mount: Mount, stat: FileStat, facts: Facts
) -> list[Finding]:
    """Is what the container holds the (checked) host file, unchanged since it started?"""
    where = {"service": info.service, "secret": mount.secret}
    path = mount.container_path
    host = facts.host.get(mount.source)
    if host is None:
        return [error("V002", f"{info.name}: the host file for {mount.source} is missing", **where)]
    found = []
    checked = facts.checked.get(mount.source) if facts.checked is not None else None
    problem = host.problem or (checked.problem if checked is not None else "")
    if problem:
        found.append(
            error(
                "V002",
                f"{info.name}: the host file for {mount.source} {problem}",
                fix="put the file itself in the secrets dir, then `titan-deploy up`",
                **where,
            )
        )
    ref, what = host, "the host file"
    if facts.checked is not None:
        ref, what = checked or host, "the host file check-secrets passed"
        if ref.sha256 != host.sha256:
            found.append(
                error(
                    "V002",
                    f"{info.name}: the host file for {mount.source} changed after "
                    "check-secrets passed it",
                    fix="run `titan-deploy up` again and do not edit secrets meanwhile",
                    **where,
                )
            )
    if stat.method == INODE:
        if (stat.dev, stat.ino) != (ref.dev, ref.ino):
            message = f"{info.name}: {path} is another file (device/inode) than {what}"
            return [*found, error("V002", message, fix=_content_fix(facts, mount), **where)]
    elif stat.sha256 != ref.sha256:
        message = f"{info.name}: {path} differs from {what} (replaced after deploy?)"
        return [*found, error("V002", message, fix=_content_fix(facts, mount), **where)]
    changed = stat.ctime if stat.ctime is not None else max(host.mtime, host.ctime)
    started = parse_timestamp(info.started_at)
    # a live mount (core/livemount.py) is replaced under a running container by design: its
    # reload and proof, not its start, say when the process took it
    if started is not None and changed > started + CLOCK_SLACK and mount.live_dir is None:
        message = (
            f"{info.name}: {path} changed after the container started (content, owner or "
            "mode); the service may still use the value it read at start"
        )
        found.append(error("V002", message, fix=_content_fix(facts, mount), **where))
    return found


def _readable(
    info: ContainerInfo, mount: Mount, stat: FileStat, facts: Facts
) -> tuple[list[Finding], bool]:
    """Findings, and whether the configured user (not running processes) was judged."""
    where = {"service": info.service, "secret": mount.secret}
    path = mount.container_path
    shown = f"{path} ({stat.uid}:{stat.gid} {stat.mode:04o})"
    readers = [p for p in facts.processes.get(info.id, ()) if reads(p, mount)]
    if readers:
        blocked = [p for p in readers if not process_can_read(p, stat)]
        if not blocked:
            return [], False
        who = ", ".join(p.who() for p in blocked[:3])
        if len(blocked) > 3:
            who += f" and {len(blocked) - 3} more"
        message = f"{info.name}: {shown} is unreadable by its process {who}"
        fix = (
            "the image drops privileges without the secrets group: add that user to the group "
            "in the image's /etc/group, or read the file before dropping and unset the *_FILE var"
        )
        return [error("V003", message, fix=fix, **where)], False
    identity = facts.identities.get(info.id)
    if identity is not None and not can_read(identity, stat):
        message = f"{info.name}: {shown} is unreadable by its user {describe(identity)}"
        fix = "set secrets_gid in the manifest (files 0640, group added to consumers)"
        return [error("V003", message, fix=fix, **where)], True
    return [], True


def reads(process: Process, mount: Mount) -> bool:
    """Whether `process` may open the mount: its environment names the file (by the consumer's
    env var or by the path), or its environment is unknown."""
    if process.env_names is None:
        return True
    named = any(env in process.env_names for env in mount.envs)
    return named or mount.container_path in process.env_paths


def is_mounted(path: str, mounts: Iterable[str]) -> bool:
    """Whether `path` is a mount destination or lies under one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in mounts)


def _service_findings(
    svc: ServicePlan, containers: list[ContainerInfo], facts: Facts, patterns: PatternSet
) -> Iterator[Shared]:
    for info in containers:
        yield from _leaks(svc, info, patterns, facts.processes.get(info.id, ()))
        yield from _file_env(svc, info)


def leak_patterns(facts: Facts) -> PatternSet:
    """The values on disk, grouped by secret, searched as audit-logs searches them (every
    encoding, multi-line values line by line, weak ones as whole tokens, never inside the tool's
    own strings: mount paths, secret, service and project names, the secrets dir). Secrets
    with `sensitive: false` are left out: their value may rightly appear (a role name)."""
    plan = facts.plan
    secrets = sorted({m.secret for svc in plan.services for m in svc.mounts})
    projects = [facts.project]
    paths = {str(PurePosixPath(path).parent) for _, path in plan.files}
    paths |= {p.removeprefix("./") for p in paths}
    context = search_context(secrets, [s.service for s in plan.services], projects, paths)
    # `sensitive: false` values are configuration (a role name): never searched for
    grouped = group_by_secret(facts.values, secrets, skip=plan.insensitive)
    return build_patterns(grouped, context=context)


def _content_fix(facts: Facts, mount: Mount) -> str:
    """What applies the host file to the service: its rotation (core/drift.fix_hint)."""
    return facts.fix_hints.get(mount.secret) or (
        "the service must re-read the file: `titan-deploy up` does not apply an edited secret file"
    )


def _leaks(
    svc: ServicePlan, info: ContainerInfo, patterns: PatternSet, processes: Iterable[Process]
) -> Iterator[Shared]:
    """Any secret value (in any encoding, weak ones as whole words) in a container's env,
    command, healthcheck, labels or the argv of any of its running processes (visible in `ps`
    to every local user)."""
    found = [
        (place, {name for name, _ in hits_in_line(text.encode("utf-8", "replace"), patterns)})
        for place, text in _places(info, processes)
    ]
    for secret in patterns.secrets:
        targets = frozenset(m.target for m in svc.mounts if m.secret == secret) or None
        for place, names in found:
            if secret in names:
                message = f"{info.name}: the value of {secret} appears in its {place}"
                fix = "remove it from there; mount the secret and let the service read *_FILE"
                leak = error("V006", message, service=svc.service, secret=secret, fix=fix)
                yield leak, targets


def _places(info: ContainerInfo, processes: Iterable[Process]) -> list[tuple[str, str]]:
    places = [(f"env {k}", v) for k, v in info.env.items()]
    places += [("env var names", "\0".join(info.env)), ("label names", "\0".join(info.labels))]
    places += [(f"command arg {i}", arg) for i, arg in enumerate(info.command)]
    places += [(f"healthcheck arg {i}", arg) for i, arg in enumerate(info.healthcheck)]
    places += [(f"label {k}", v) for k, v in info.labels.items()]
    places += [(f"process {p.pid} ({p.comm}) argv", "\0".join(p.argv)) for p in processes]
    return places


def _file_env(svc: ServicePlan, info: ContainerInfo) -> Iterator[Shared]:
    """The `*_FILE` contract in the container's env: `X` beside `X_FILE` means the file is
    ignored (an error for a consumer var or a /run/secrets path); an `X_FILE` under
    /run/secrets where nothing is mounted is an error too."""
    consumer = {env: m.target for m in svc.mounts for env in m.envs}
    for key, value in info.env.items():
        base = file_base(key)
        if base is None:
            continue
        secret_path = value.startswith(SECRETS_MOUNT + "/")
        targets = frozenset({consumer[key]}) if key in consumer else None
        if base in info.env:
            if key in consumer or secret_path:
                yield (
                    error(
                        "V007",
                        f"{info.name}: {base} is set beside {key}: the service ignores the file",
                        service=svc.service,
                        fix=f"remove {base} from environment:, env_file: and .env",
                    ),
                    targets,
                )
            else:
                message = f"{info.name}: both {base} and {key} are set; the file may be ignored"
                yield warning("V007", message, service=svc.service), None
        mounts = info.mounts
        dangling = mounts is not None and not is_mounted(value, mounts)
        if secret_path and key not in consumer and dangling:
            message = f"{info.name}: {key} points at {value}, where nothing is mounted"
            fix = "add the secret to the manifest for this service, or drop the var"
            yield error("V008", message, service=svc.service, fix=fix), None
