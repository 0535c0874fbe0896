"""Verification of a running stack (DESIGN §5 `verify`), as a pure function of gathered facts.

The op gathers facts (container inspect data, the tar header and hash of each mounted secret, the
host files' hashes and mtimes, /etc/passwd and /etc/group of each image); this module decides.
One row per (service, secret); a finding for each failed check naming the container. Values are
compared by hash or by equality inside this process and never leave it.

Content has two checks. The hash of the mounted file against the host file catches a container
that mounts the wrong version. But the engine's archive API re-mounts a bind source when asked,
so for compose's bind-mounted file secrets it may read the host file as it is *now*; what a
service uses is what it read at start. Hence the second check: a host file modified after the
container started means the service runs with a value that is no longer on disk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from titan_deploy.core.containers import ContainerInfo, FileStat
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.lint import file_base
from titan_deploy.core.overlay import Mount, OverlayPlan

CHECKS = ("mounted", "content", "readable", "env", "running", "no_leak")


@dataclass(frozen=True)
class HostFile:
    sha256: str
    mtime: float


@dataclass(frozen=True)
class Identity:
    """Who the container's process runs as. uid None: a user name the image does not define."""

    uid: int | None
    gid: int
    groups: frozenset[int] = frozenset()
    name: str = ""


@dataclass
class Facts:
    plan: OverlayPlan
    containers: dict[str, list[ContainerInfo]]  # service -> containers
    files: Mapping[tuple[str, str], FileStat]  # (container id, path) -> stat
    host: Mapping[str, HostFile]  # compose secret source -> host file
    identities: Mapping[str, Identity]  # container id -> identity
    values: Mapping[str, bytes] = field(repr=False, default_factory=dict)  # secret -> value
    fix_hints: Mapping[str, str] = field(default_factory=dict)  # secret -> V002 fix (core/drift)

    def __repr__(self) -> str:
        return f"Facts(services={len(self.containers)})"


def verify(facts: Facts) -> tuple[list[dict], list[Finding]]:
    """Rows (service, secret, containers, each check ok/FAIL, problem) and findings."""
    rows: list[dict] = []
    findings: list[Finding] = []
    for svc in facts.plan.services:
        containers = facts.containers.get(svc.service, [])
        leaks = list(_leaks(svc.service, containers, facts.values))
        findings += leaks
        findings += _both_set(svc.service, containers)
        for mount in svc.mounts:
            row, found = _verify_mount(svc.service, mount, containers, facts, leaks)
            rows.append(row)
            findings += found
    return rows, findings


def _verify_mount(
    service: str,
    mount: Mount,
    containers: list[ContainerInfo],
    facts: Facts,
    leaks: list[Finding],
) -> tuple[dict, list[Finding]]:
    row: dict = {"service": service, "secret": mount.target, "containers": len(containers)}
    found: list[Finding] = []
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
        found += _check_container(service, mount, info, facts)
    mine = found + [f for f in leaks if f.secret == mount.secret]  # leaks: reported per service
    failed_checks = {f.code for f in mine}
    for code, check in zip(("V001", "V002", "V003", "V004", "V005", "V006"), CHECKS, strict=True):
        row[check] = bool(containers) and code not in failed_checks
    row["problem"] = "; ".join(dict.fromkeys(f.message for f in mine if f.severity == "error"))
    return row, found


def _check_container(
    service: str, mount: Mount, info: ContainerInfo, facts: Facts
) -> list[Finding]:
    where = {"service": service, "secret": mount.secret}
    found: list[Finding] = []
    path = mount.container_path
    if info.status != "running" or info.restarting or info.health == "unhealthy":
        state = "restarting" if info.restarting else info.health if info.health else info.status
        found.append(
            error("V005", f"{info.name} is {state} (restarts: {info.restart_count})", **where)
        )
    if info.env.get(mount.env) != path:
        found.append(error("V004", f"{info.name}: {mount.env} does not point at {path}", **where))
    stat = facts.files.get((info.id, path))
    if stat is None or not stat.exists:
        reason = f" ({stat.error})" if stat is not None and stat.error else ""
        found.append(error("V001", f"{info.name}: {path} is not mounted{reason}", **where))
        return found
    found += _content(info, mount, stat, facts, where)
    identity = facts.identities.get(info.id)
    if identity is not None and not can_read(identity, stat):
        found.append(
            error(
                "V003",
                f"{info.name}: {path} ({stat.uid}:{stat.gid} {stat.mode:04o}) is unreadable by "
                f"its user {describe(identity)}",
                fix="set secrets_gid in the manifest (files 0640, group added to consumers)",
                **where,
            )
        )
    return found


def _content(
    info: ContainerInfo, mount: Mount, stat: FileStat, facts: Facts, where: dict
) -> list[Finding]:
    host = facts.host.get(mount.source)
    path = mount.container_path
    if host is None:
        return [error("V002", f"{info.name}: the host file for {mount.source} is missing", **where)]
    if stat.sha256 != host.sha256:
        return [
            error(
                "V002",
                f"{info.name}: {path} differs from the host file (edited after deploy?)",
                fix=_content_fix(facts, mount),
                **where,
            )
        ]
    started = parse_time(info.started_at)
    if started is not None and host.mtime > started + 1:
        return [
            error(
                "V002",
                f"{info.name}: the host file changed after the container started; "
                "the service still uses the value it read at start",
                fix=_content_fix(facts, mount),
                **where,
            )
        ]
    return []


def _content_fix(facts: Facts, mount: Mount) -> str:
    """What applies the host file to the service: its rotation (core/drift.fix_hint)."""
    return facts.fix_hints.get(mount.secret) or (
        "the service must re-read the file: `titan-deploy up` does not apply an edited secret file"
    )


def _leaks(
    service: str, containers: list[ContainerInfo], values: Mapping[str, bytes]
) -> Iterable[Finding]:
    """Any secret value in a container's env, command or labels (raw or base64)."""
    for info in containers:
        places = [(f"env {k}", v) for k, v in info.env.items()]
        places += [(f"command arg {i}", arg) for i, arg in enumerate(info.command)]
        places += [(f"label {k}", v) for k, v in info.labels.items()]
        for secret, value in values.items():
            needles = _needles(value)
            for place, text in places:
                if any(needle in text for needle in needles):
                    yield error(
                        "V006",
                        f"{info.name}: the value of {secret} appears in its {place}",
                        service=service,
                        secret=secret,
                        fix="remove it from the compose file; mount the secret and use *_FILE",
                    )


def _needles(value: bytes) -> list[str]:
    if len(value) < 8:
        return []
    raw = value.decode("utf-8", "replace")
    return [raw, base64.b64encode(value).decode(), base64.urlsafe_b64encode(value).decode()]


def _both_set(service: str, containers: list[ContainerInfo]) -> Iterable[Finding]:
    for info in containers:
        for key in info.env:
            base = file_base(key)
            if base and base in info.env:
                yield warning(
                    "V007",
                    f"{info.name}: both {base} and {key} are set; the file may be ignored",
                    service=service,
                )


def can_read(identity: Identity, stat: FileStat) -> bool:
    """Whether `identity` can read a file with this owner/mode (no ACLs, no capabilities)."""
    if identity.uid == 0:
        return True
    if identity.uid is None:
        return bool(stat.mode & 0o004)
    if identity.uid == stat.uid:
        return bool(stat.mode & 0o400)
    if stat.gid == identity.gid or stat.gid in identity.groups:
        return bool(stat.mode & 0o040)
    return bool(stat.mode & 0o004)


def describe(identity: Identity) -> str:
    who = identity.name or (str(identity.uid) if identity.uid is not None else "unknown")
    groups = ",".join(str(g) for g in sorted(identity.groups))
    return f"{who} (uid {identity.uid}, gid {identity.gid}{', groups ' + groups if groups else ''})"


def resolve_identity(
    user: str, group_add: Iterable[str], passwd: str | None, group: str | None
) -> Identity:
    """The uid/gid/groups a container runs as, from its User, group_add and image files."""
    name, _, group_part = (user or "").partition(":")
    users = _passwd(passwd or "")
    groups = _groups(group or "")
    entry = users.get(name) if name and not name.isdigit() else None
    if name.isdigit():
        uid = int(name)
        entry = next((e for e in users.values() if e[0] == uid), None)
    elif not name:
        uid = 0
        entry = users.get("root")
    else:
        uid = entry[0] if entry else None
    gid = entry[1] if entry else 0
    if group_part:
        gid = int(group_part) if group_part.isdigit() else groups.get(group_part, (gid, []))[0]
    username = next((n for n, e in users.items() if e is entry), name)
    extra = {g for g, members in groups.values() if username and username in members}
    extra |= {_group_id(g, groups) for g in group_add}
    extra.discard(-1)
    return Identity(uid=uid, gid=gid, groups=frozenset(extra), name=username)


def _passwd(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out[parts[0]] = (int(parts[2]), int(parts[3]))
    return out


def _groups(text: str) -> dict[str, tuple[int, list[str]]]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            out[parts[0]] = (int(parts[2]), [m for m in parts[3].split(",") if m])
    return out


def _group_id(value: str, groups: Mapping[str, tuple[int, list[str]]]) -> int:
    if value.isdigit():
        return int(value)
    return groups.get(value, (-1, []))[0]


def parse_time(stamp: str) -> float | None:
    """Docker's RFC 3339 timestamps (nanoseconds, Z) as epoch seconds."""
    if not stamp or stamp.startswith("0001-"):
        return None
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        base = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    digits = "".join(ch for ch in frac if ch.isdigit())[:6]
    return base + (int(digits) / 10 ** len(digits) if digits else 0.0)
