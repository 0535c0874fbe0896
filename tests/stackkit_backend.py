"""A small project for the secrets-manager tests: a manifest (with no backend yet), its secrets
dir filled with given values (0700 / 0600)."""

from __future__ import annotations

from pathlib import Path

import yaml


def project_with_values(tmp: Path, manifest: dict, values: dict[str, str]) -> Path:
    """A project dir under `tmp` with `manifest` and `values` (secret -> text) in `secrets/`."""
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    (project / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    store = project / "secrets"
    store.mkdir(mode=0o700, exist_ok=True)
    for name, value in values.items():
        (store / name).write_text(value)
        (store / name).chmod(0o600)
    return project
