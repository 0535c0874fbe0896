"""Which KV version each file of the agent path holds (README "Secrets managers", core/agent.py
`Pins`): `<state_dir>/backend-pins.json`, {secret: {"base" | "<rotation version>": KV version
number, or Secrets Manager VersionId}},
0600, written atomically. Version numbers only: never a value. `up` pins each secret's base to
the version it checked; a rotation pins each version it writes (ops/rotate/agent_effects.py).

Every change of the pins goes through `save`, which has the backend hold exactly the pinned
versions (core/backendhold.py: Secrets Manager labels them; the labels are added before the file
is written and removed after it); `held` tells a backend's writes what they must keep.
"""

from __future__ import annotations

import json
import re

from titan_deploy.core.agent import Pins
from titan_deploy.core.backend import SecretBackend
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs
from titan_deploy.project import Project

NAME = "backend-pins.json"
VERSION_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")  # a Secrets Manager VersionId (a UUID)


def load(project: Project) -> dict[str, dict[str, int | str]]:
    """The pins on disk ({} when there are none). ConfigError (exit 2) naming the file when it
    is not the JSON this module writes."""
    path = project.state_dir / NAME
    try:
        raw = fs.read_config(path)
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
        out = {
            str(secret): {str(k): _pin(v) for k, v in versions.items()}
            for secret, versions in data.items()
        }
    except (ValueError, TypeError, AttributeError):
        raise ConfigError(
            f"{project.manifest.state_dir}/{NAME}: not the pins titan-deploy writes; remove it "
            "and run `titan-deploy up` (it pins the versions it checks)"
        ) from None
    return out


def _pin(value: object) -> int | str:
    """A stored pin: KV's version number, or a Secrets Manager VersionId (letters, digits,
    `-`); ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and VERSION_ID_RE.fullmatch(value):
        return value
    raise ValueError("not a pin")


def held(project: Project, secret: str) -> set[str]:
    """Every backend version `secret` is pinned to (any rotation version, base included)."""
    return {str(v) for v in load(project).get(secret, {}).values()}


def save(
    project: Project, pins: Pins, backend: SecretBackend | None = None, every: bool = False
) -> None:
    """Write the pins atomically, 0600 (the state dir created 0700 if missing), `backend`
    holding exactly the pinned versions of each secret whose pins changed (`every`: of every
    secret, e.g. `up` repairing a label; None: no backend to tell, only tests' fixtures). The
    backend's failures as it raises them (then the file is not written)."""
    if backend is None:
        _write(project, pins)
        return
    old = load(project)
    names = sorted(set(old) | set(pins))
    before = {n: {str(v) for v in old.get(n, {}).values()} for n in names}
    after = {n: {str(v) for v in pins.get(n, {}).values()} for n in names}
    changed = [n for n in names if every or before[n] != after[n]]
    for name in changed:  # first hold the new versions too: a crash leaves a spare label only
        backend.hold(name, before[name] | after[name])
    _write(project, pins)
    for name in changed:
        if before[name] - after[name]:
            backend.hold(name, after[name])


def _write(project: Project, pins: Pins) -> None:
    root = project.project_dir
    fs.ensure_dir(project.state_dir, 0o700, root=root)
    text = json.dumps({s: dict(v) for s, v in pins.items()}, indent=2, sort_keys=True) + "\n"
    fs.atomic_write(project.state_dir / NAME, text.encode(), mode=0o600, root=root)


def pin(
    project: Project,
    secret: str,
    key: str,
    kv_version: int | str,
    backend: SecretBackend | None = None,
) -> None:
    """Record one pin (read, update, `save` with `backend`)."""
    pins = load(project)
    pins.setdefault(secret, {})[key] = kv_version
    save(project, pins, backend)
