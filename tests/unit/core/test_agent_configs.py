"""Config files (`configs:`) and the secrets-manager paths: a config is rendered from secrets, so
a backend's secret entries are `Manifest.stored`'s (a config is a derived entry, written by the
tool: tests/unit/ops/test_agent_configs_backend.py), and the agent path renders a config's file
like a secret's, in a subdirectory of /run/secrets too; only a target off /run/secrets, or one
file inside another's path, is refused."""

from __future__ import annotations

import pytest

from tests.paths import REPO
from titan_deploy.core.agent import Sidecar, agent_compose, agent_hcl, rendered_files
from titan_deploy.core.manifest import load_manifest, parse_manifest_text
from titan_deploy.core.overlay import plan_overlay
from titan_deploy.errors import ConfigError

HEAD = """\
version: 1
compose_files: [docker-compose.yml]
backend:
  type: openbao
  address: http://127.0.0.1:8200
  auth: {role_id_file: r, secret_id_file: s}
  agent: {}
secrets:
"""


def test_stored_is_every_secret_but_the_configs() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    assert manifest.configs, "the Titan manifest has a config (redis_conf)"
    assert set(manifest.stored) == set(manifest.secrets) - set(manifest.configs)
    assert not any(spec.is_config for spec in manifest.stored.values())


def test_the_titan_configs_render_in_their_subdirectory() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    files = {(f.service, f.secret): f for f in rendered_files(manifest)}
    nats = files[("nats", "nats_auth_conf")]
    assert nats.name == "nats/auth.conf"
    assert nats.agent_path == "/out/nats/nats/auth.conf"
    assert nats.container_path == "/run/secrets/nats/auth.conf"
    assert files[("redis", "redis_conf")].name == "redis.conf"
    hcl = agent_hcl(
        parse_manifest_text(HEAD + "  x: {kind: token, consumers: {a: X_FILE}}\n").backend,
        [nats],
        "http://x:8200",
    )
    assert 'destination = "/out/nats/nats/auth.conf"' in hcl
    sidecar = Sidecar("./bao-agent.hcl", "./r", "./s")
    compose = agent_compose(plan_overlay(manifest), [nats], sidecar)
    assert "test -s /out/nats/nats/auth.conf" in compose
    assert '"secrets-nats:/run/secrets:ro"' in compose


def test_a_target_off_run_secrets_is_refused() -> None:
    manifest = parse_manifest_text(
        HEAD + "  cert: {kind: text, consumers: {web: {target: /etc/app/server.cert}}}\n"
    )
    with pytest.raises(ConfigError, match=r"cert.*/etc/app/server.cert is not under /run/secrets/"):
        rendered_files(manifest)


def test_a_file_inside_another_files_path_is_refused() -> None:
    manifest = parse_manifest_text(
        HEAD
        + "  a: {kind: token, consumers: {web: {target: /run/secrets/app}}}\n"
        + "  b: {kind: token, consumers: {web: {target: /run/secrets/app/key}}}\n"
    )
    with pytest.raises(ConfigError, match=r"/run/secrets/app/key lies inside /run/secrets/app"):
        rendered_files(manifest)
