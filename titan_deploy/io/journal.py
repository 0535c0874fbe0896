"""Rotation state on disk (DESIGN §8.7). For now: what the overlay needs from it.

While no rotation has ever run, there is no state and every consumer uses the base files.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from titan_deploy.core.overlay import Assignment, State
from titan_deploy.errors import ConfigError

if TYPE_CHECKING:
    from titan_deploy.project import Project

STATE_FILE = "state.json"


def load_overlay_state(project: Project) -> State:
    """secret -> service -> Assignment, from the journal's `assignments` (empty if none)."""
    path = project.state_dir / STATE_FILE
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ConfigError(
            f"{path}: unreadable rotation state; see `titan-deploy rotate status`"
        ) from None
    out: dict[str, dict[str, Assignment]] = {}
    for secret, services in (doc.get("assignments") or {}).items():
        out[secret] = {
            service: Assignment(
                version=entry.get("version"),
                secondary=entry.get("secondary"),
                key_id=entry.get("key_id"),
            )
            for service, entry in services.items()
        }
    return out
