"""The deploy record on disk: `<state_dir>/deployed.json` (0600, atomic, git-ignored state dir).

What `up` last deployed and verified for each provisioned secret (the database password): the
file its holder mounted and a salted digest of its value (core/drift.py). It never holds a value.
Read by check-secrets, up and verify to tell an edit that a redeploy would not apply (D002);
`down --volumes` deletes it with the database volume it describes.
"""

from __future__ import annotations

import json
import secrets as _random
from pathlib import Path
from typing import TYPE_CHECKING

from titan_deploy.core.drift import DeployRecord, record_from_dict, record_to_dict
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs

if TYPE_CHECKING:
    from titan_deploy.project import Project

RECORD_FILE = "deployed.json"


def record_path(project: Project) -> Path:
    return project.state_dir / RECORD_FILE


def load(project: Project) -> DeployRecord | None:
    """The record, None when no `up` recorded one. ConfigError (exit 2) if unreadable."""
    path = record_path(project)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        return record_from_dict(doc)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(
            f"{path}: unreadable deploy record; move it away (the next verified "
            "`titan-deploy up` writes a new one)"
        ) from None


def load_or_new(project: Project) -> DeployRecord:
    """The record, or an empty one with a fresh random salt."""
    return load(project) or DeployRecord(salt=_random.token_hex(16))


def save(project: Project, record: DeployRecord) -> None:
    """Write the record atomically, mode 0600 (the state dir is created 0700 if missing)."""
    fs.ensure_dir(project.state_dir, 0o700)
    text = json.dumps(record_to_dict(record), indent=2, sort_keys=True) + "\n"
    fs.atomic_write(record_path(project), text.encode(), mode=0o600)


def forget(project: Project) -> bool:
    """Delete the record (the volumes it describes are gone). True if there was one."""
    path = record_path(project)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
