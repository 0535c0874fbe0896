"""New values an operator gives a rotation (`rotate exchange`, `rotate secret`): the checks they
share, before anything is written (README "3. Exchange keys", "4. Any other secret").

A new value is refused (UsageError, exit 2, naming the secret, never the value) when it is empty,
holds a CR or NUL, a line break (unless the secret is multi-line), fails its kind, is a
placeholder, is already what a consumer mounts, or is another secret's value (any file in the
secrets dir: base files and versions).
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core import versions
from titan_deploy.core.rotation import Journal, current
from titan_deploy.core.secretvalue import is_placeholder, kind_problem
from titan_deploy.core.versions import file_name
from titan_deploy.errors import UsageError
from titan_deploy.io import fs
from titan_deploy.project import Project


def check_new_value(project: Project, journal: Journal, name: str, value: bytes) -> None:
    """Every check of the module docstring for one trimmed value of secret `name`."""
    check_value(project, name, value)
    check_not_taken(project, journal, name, value)


def check_not_taken(project: Project, journal: Journal, name: str, value: bytes) -> None:
    """Not the value a consumer of `name` mounts, nor another secret's. UsageError (exit 2).
    On the agent path, the backend's values (ops/agent_material.py)."""
    from titan_deploy.ops.agent_stack import uses_agent

    if uses_agent(project):
        from titan_deploy.ops.agent_material import backend_taken

        taken, owner = backend_taken(project, journal, name, value)
    else:
        taken, owner = value in in_use(project, journal, name), owner_of(project, value, name)
    if taken:
        raise UsageError(f"the new {name} is the value already in use")
    if owner is not None:
        raise UsageError(
            f"the new {name} is the value of {owner}: every secret needs its own value"
        )


def check_value(project: Project, name: str, value: bytes) -> None:
    """The value's own checks: not empty, no CR/NUL, one line unless multi-line, its kind, not
    a placeholder. UsageError (exit 2)."""
    spec = project.manifest.secrets[name]
    if not value:
        raise UsageError(f"the new {name} is empty")
    if b"\r" in value or b"\x00" in value:
        raise UsageError(f"the new {name} holds a carriage return or NUL")
    if b"\n" in value and not spec.is_multiline:
        raise UsageError(f"the new {name} holds a line break")
    problem = kind_problem(spec, value)
    if problem:
        raise UsageError(f"the new {name} is not a valid {spec.kind}: {problem}")
    if is_placeholder(value, bounded(project.example_dir / name)):
        raise UsageError(f"the new {name} is a placeholder, not a real key")


def in_use(project: Project, journal: Journal, name: str) -> set[bytes]:
    """The values of `name` that some consumer mounts now, per the journal (the base file when
    a consumer mounts it; an edited base file no consumer mounts is not in use)."""
    spec = project.manifest.secrets[name]
    used = {current(journal.assignments, name, c.service).version for c in spec.consumers}
    out = set()
    for version in used:
        value = bounded(project.secrets_dir / file_name(spec.file_name, version))
        if value is not None:
            out.add(value.strip())
    return out


def owner_of(project: Project, value: bytes, name: str) -> str | None:
    """The other secret whose file (base or version) holds `value`, if any."""
    for entry, path in fs.store_files(project.secrets_dir, project.manifest.files):
        owner = versions.owner(entry, project.manifest.secrets)
        if owner is None or owner == name:
            continue
        other = bounded(path)
        if other is not None and other.strip() == value:
            return owner
    return None


def bounded(path: Path) -> bytes | None:
    """A regular file's bytes within Docker's secret limit, else None (missing, too large, a
    FIFO or device: never read whole, never blocking)."""
    try:
        return fs.read_secret(path)
    except OSError:
        return None
