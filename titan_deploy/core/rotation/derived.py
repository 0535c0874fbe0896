"""Config files in a rotation (README "Config files"): a config rendered from a rotated secret
gets a new version, rendered from the new value (`WriteVersion(source="render")`), and its
consumers are repointed in the procedure's order. Pure: versions from the files and the
journal, steps as data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.rotation.plan import next_version, versions_in_use
from titan_deploy.core.rotation.steps import Assignments, WriteVersion


def render_versions(
    manifest: Manifest,
    secrets: Iterable[str],
    assignments: Assignments,
    existing: Mapping[str, Iterable[int]],
    last_versions: Mapping[str, int],
) -> tuple[dict[str, int], list[WriteVersion]]:
    """(config -> its new version, the steps that render them) for every config rendered from
    any of `secrets`, in manifest order. `existing`: each config's version files; `last_versions`:
    the journal's last version of each (versions are never reused)."""
    versions: dict[str, int] = {}
    steps = []
    for config in manifest.configs_using(secrets):
        used = {*existing.get(config, ()), *versions_in_use(assignments, config)}
        versions[config] = next_version(used, last_versions.get(config, 0))
        steps.append(WriteVersion(config, versions[config], "render"))
    return versions, steps


def readers(manifest: Manifest, secrets: Iterable[str]) -> list[str]:
    """Every consumer of `secrets` (each a secret or a config), once, in order."""
    return list(dict.fromkeys(c.service for s in secrets for c in manifest.secrets[s].consumers))
