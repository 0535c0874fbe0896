"""Config files (`configs:`) and the secrets-manager paths: a config is rendered from secrets, so
a backend holds only the secrets (`Manifest.stored`), and the agent path, which cannot render a
config yet, refuses a manifest that has one instead of leaving its consumers without the file."""

from __future__ import annotations

import pytest

from tests.paths import REPO
from titan_deploy.core.agent import rendered_files
from titan_deploy.core.manifest import load_manifest
from titan_deploy.errors import ConfigError


def test_stored_is_every_secret_but_the_configs() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    assert manifest.configs, "the Titan manifest has a config (redis_conf)"
    assert set(manifest.stored) == set(manifest.secrets) - set(manifest.configs)
    assert not any(spec.is_config for spec in manifest.stored.values())


def test_the_agent_path_refuses_a_manifest_with_configs() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    with pytest.raises(ConfigError, match=r"redis_conf.*does not render config files"):
        rendered_files(manifest)
