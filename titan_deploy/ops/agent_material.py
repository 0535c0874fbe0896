"""A rotation's new value on the agent path (README "Secrets managers"): the values it must not
be are the backend's, not files on this host (ops/rotate/material.py `check_not_taken` asks
here when the project is on the agent path). Read into memory only, never written or shown.
"""

from __future__ import annotations

from titan_deploy.core.agent import kv_version
from titan_deploy.core.backend import same
from titan_deploy.core.rotation import Journal, current
from titan_deploy.project import Project


def backend_taken(
    project: Project, journal: Journal, name: str, value: bytes
) -> tuple[bool, str | None]:
    """(whether `value` is what a consumer of `name` holds now: the KV version its journal
    version is pinned to, else the latest; the other secret whose entry holds it: its latest or
    any pinned version, or None). The backend's failures raise as its reads do (exit 2/3)."""
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect

    backend = connect(project)
    pins = backendpins.load(project)
    manifest = project.manifest
    spec = manifest.secrets[name]
    used = {current(journal.assignments, name, c.service).version for c in spec.consumers}
    in_use = False
    for version in used:
        pinned = kv_version(pins, name, version)
        stored = backend.read_version(name, str(pinned)) if pinned else backend.read(name)
        in_use = in_use or (stored is not None and same(stored.value.strip(), value))
    for other in manifest.stored:
        if other == name:
            continue
        held = [backend.read(other)]
        held += [backend.read_version(other, str(v)) for v in set(pins.get(other, {}).values())]
        if any(s is not None and same(s.value.strip(), value) for s in held):
            return in_use, other
    return in_use, None
