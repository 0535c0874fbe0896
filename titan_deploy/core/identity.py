"""Who reads a secret inside a container, and whether its owner/mode lets them (pure).

Two views: the configured identity (the container's `User`, `group_add` and the image's
/etc/passwd and /etc/group), and each running process's own ids and capabilities (from
/proc/<pid>/status): an image that drops privileges (gosu, su-exec) loses `group_add`, so
`verify` prefers the processes when it can list them (core/verify.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from titan_deploy.core.containers import FileStat, Process


@dataclass(frozen=True)
class Identity:
    """Who the container's process runs as. uid None: a user name the image does not define."""

    uid: int | None
    gid: int
    groups: frozenset[int] = frozenset()
    name: str = ""


def process_can_read(process: Process, stat: FileStat) -> bool:
    """Whether a running process can open a file with this owner/mode (fs ids, groups, caps)."""
    if process.dac_override or (process.dac_override is None and process.uid == 0):
        return True
    return _mode_allows(process.uid, process.gid, process.groups, stat)


def can_read(identity: Identity, stat: FileStat) -> bool:
    """Whether `identity` can read a file with this owner/mode (no ACLs, no capabilities)."""
    if identity.uid == 0:
        return True
    if identity.uid is None:
        return bool(stat.mode & 0o004)
    return _mode_allows(identity.uid, identity.gid, identity.groups, stat)


def _mode_allows(uid: int, gid: int, groups: frozenset[int], stat: FileStat) -> bool:
    if uid == stat.uid:
        return bool(stat.mode & 0o400)
    if stat.gid == gid or stat.gid in groups:
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
    uid: int | None
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
