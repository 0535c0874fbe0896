"""Version naming (ARCHITECTURE.md invariant 2): the one module that builds and parses
`<name>.v<N>`, `<name>_v<N>`.

A rotation never changes a file a container has mounted; it writes version N of secret `name` to
the file `<name>.v<N>` and gives it the compose secret name `<name>_v<N>`. Everything that names
or recognises a version goes through this module, so a secret's name can never be mistaken for
part of another's (`app.vault_token` is a secret, not version "ault_token" of `app`).

Parsing is exact: an entry belongs to secret `s` only when it is `s` itself or `s` + separator +
a canonical version number (no sign, no leading zero). Given the manifest's names, that is
unambiguous because the manifest refuses a name that another secret's versions could take
(`collision`).

API:
    file_name(secret, version) -> "<secret>" | "<secret>.v<N>"        (version None: the base)
    source_name(secret, version) -> "<secret>" | "<secret>_v<N>"
    parse_file(entry, names) -> (secret, version | None) | None       (files in the secrets dir)
    parse_source(entry, names) -> (secret, version | None) | None     (compose secret names)
    versions_of(entries, secret) -> sorted version numbers of `secret` among file names
    owner(entry, names) -> the secret a file name belongs to, or None
    secondary_target(secret) -> "<secret>.previous" (where an HMAC listener finds the old key)
    collision(name, names) -> what `name` would be taken for, or None (the manifest refuses it)
    store_entry(rel, files) -> "<secret>" | "<secret>.v<N>" for a path in the secrets dir, given
                               each secret's file (a `file:` such as db/password.txt), or None

A secret with `file: db/password.txt` keeps its versions beside that file (`db/password.txt.v2`);
the rest of the tool names them as any other (`<secret>.v2`) through `store_entry`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet

FILE_SEP = ".v"
SOURCE_SEP = "_v"
SECONDARY_SUFFIX = ".previous"
_CANONICAL = re.compile(r"[1-9][0-9]*")
_ANY_NUMBER = re.compile(r"[0-9]+")


def file_name(secret: str, version: int | None) -> str:
    """The file (in the secrets dir) holding `version` of `secret`; None means the base file."""
    return secret if version is None else f"{secret}{FILE_SEP}{_number(version)}"


def source_name(secret: str, version: int | None) -> str:
    """The compose secret name of `version` of `secret`; None means the base secret."""
    return secret if version is None else f"{secret}{SOURCE_SEP}{_number(version)}"


def parse_file(entry: str, names: Collection[str]) -> tuple[str, int | None] | None:
    """(secret, version) that the file name `entry` holds, (secret, None) for a base file, or
    None when no manifest secret (`names`) claims it."""
    return _parse(entry, names, FILE_SEP)


def parse_source(entry: str, names: Collection[str]) -> tuple[str, int | None] | None:
    """(secret, version) for a compose secret name, as `parse_file` does for file names."""
    return _parse(entry, names, SOURCE_SEP)


def versions_of(entries: Iterable[str], secret: str) -> tuple[int, ...]:
    """The version numbers of `secret` among file names (`<secret>.v<N>`), sorted."""
    found = (_parse(entry, (secret,), FILE_SEP) for entry in entries)
    return tuple(sorted(hit[1] for hit in found if hit is not None and hit[1] is not None))


def owner(entry: str, names: Collection[str]) -> str | None:
    """The manifest secret a file name belongs to (base or version), or None."""
    hit = parse_file(entry, names)
    return hit[0] if hit else None


def secondary_target(secret: str) -> str:
    """The file name under /run/secrets where an HMAC listener reads the previous key."""
    return secret + SECONDARY_SUFFIX


def collision(name: str, names: Iterable[str]) -> str | None:
    """What `name` would be mistaken for, when it has the shape of a name derived from another
    manifest secret: one of its versions, by file name (`a.v1`) or compose secret name (`a_v1`),
    or its secondary HMAC key mount (`a.previous`); None when it is free.

    Any number counts here, `a.v01` or `a.v0` too: a name that merely looks like a version is
    refused rather than parsed one way by this tool and another by a reader.

    Looked up, not searched: a number holds no separator, so the only candidate is what precedes
    the last one; `names` (a set or mapping is used as is) is never scanned per call, which kept
    a manifest of a few thousand secrets in minutes of checks."""
    pool = names if isinstance(names, (AbstractSet, Mapping)) else frozenset(names)
    if name.endswith(SECONDARY_SUFFIX):
        other = name[: -len(SECONDARY_SUFFIX)]
        if other in pool:
            return f"the previous-key mount of secret {other} ({name})"
    for sep in (FILE_SEP, SOURCE_SEP):
        other, found, number = name.rpartition(sep)
        if found and other in pool and _ANY_NUMBER.fullmatch(number):
            return f"version {number} of secret {other}"
    return None


def store_entry(rel: str, files: Mapping[str, str]) -> str | None:
    """The name the tool knows a file of the secrets dir by: `<secret>` or `<secret>.v<N>`.

    `rel`: the file's path relative to the secrets dir (`db/password.txt.v2`); `files`: each
    manifest secret's file there (its `file:`, else its name). None when no secret claims it."""
    head, _, tail = rel.rpartition("/")
    for secret, base in files.items():
        base_head, _, base_tail = base.rpartition("/")
        hit = _parse(tail, (base_tail,), FILE_SEP) if head == base_head else None
        if hit is not None:
            return file_name(secret, hit[1])
    return None


def _parse(entry: str, names: Collection[str], sep: str) -> tuple[str, int | None] | None:
    if entry in names:
        return entry, None
    base, found, number = entry.rpartition(sep)
    if found and base in names and _CANONICAL.fullmatch(number):
        return base, int(number)
    return None


def _number(version: int) -> str:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("a version is an integer >= 1")
    return str(version)
