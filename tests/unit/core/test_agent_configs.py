"""Config files (`configs:`) and the secrets-manager paths: a config is rendered from secrets, so
a backend's secret entries are `Manifest.stored`'s (a config is a derived entry, written by the
tool: tests/unit/ops/test_agent_configs_backend.py), and the agent path renders a config's file
like a secret's; only a target off /run/secrets is refused."""

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


def test_the_agent_path_refuses_a_config_only_for_its_target() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    with pytest.raises(ConfigError, match=r"nats_auth_conf.*is not under /run/secrets/"):
        rendered_files(manifest)
