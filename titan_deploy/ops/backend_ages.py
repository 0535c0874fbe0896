"""Secret ages from a secrets manager (README "Secrets managers"): how old the value a backend
holds is, from the backend's own version metadata (KV v2 `created_time`, Secrets Manager
`CreatedDate`: `Stored.created`), never a file's mtime on this host (there may be no file).
`status` on the agent path ages the version the consumers hold (its pin); `check-secrets
--backend` the entry's current version. The findings are check-secrets' S024
(core/secretage.py), so waivers and `max_age_days` apply as on the local path.
"""

from __future__ import annotations

import time

from titan_deploy.core.backend import SecretBackend, Stored
from titan_deploy.core.manifest_model import SecretSpec
from titan_deploy.core.secretage import SecretAge, age_days
from titan_deploy.project import Project


def stored_age(
    backend: SecretBackend, spec: SecretSpec, stored: Stored, now: float
) -> SecretAge | None:
    """`spec`'s age from `stored` (the version read) at `now` (epoch seconds); `file` names the
    entry and its version. None when the backend gave no creation time."""
    if stored.created is None:
        return None
    where = f"{backend.config.location(spec.name)} (version {stored.version})"
    return SecretAge(spec.name, where, age_days(stored.created, now), spec.max_age_days)


def backend_ages(
    project: Project, backend: SecretBackend, now: float | None = None
) -> list[SecretAge]:
    """Each secret's and config's age on the agent path: days from the creation of the backend
    version its consumers hold (the version the journal assigns, else the base, each through its
    pin; unpinned: the entry's latest) to `now` (epoch seconds; default the clock). An entry
    without a version, or whose backend gives no creation time, has no age (`B004`, `up` and
    check-secrets --backend report a missing entry)."""
    from titan_deploy.core.agent import kv_version
    from titan_deploy.core.secretage import current_version
    from titan_deploy.io import backendpins
    from titan_deploy.io import journal as journal_io

    assignments = journal_io.load(project).assignments if project.state_dir.is_dir() else {}
    pins = backendpins.load(project)
    clock = time.time() if now is None else now
    out = []
    for spec in project.manifest.secrets.values():  # a config's derived entry too
        pinned = kv_version(pins, spec.name, current_version(assignments, spec.name))
        stored = backend.read_version(spec.name, "" if pinned is None else str(pinned))
        age = None if stored is None else stored_age(backend, spec, stored, clock)
        if age is not None:
            out.append(age)
    return out
