"""The agent path follows the overlay plan (core/agent.py): a rotation's versions are pinned KV
versions, an HMAC listener in phase 1 gets the secondary key as a second file and the key id as
a plain variable, and a file without a pin follows the entry's latest version."""

from __future__ import annotations

from titan_deploy.core.agent import Sidecar, agent_compose, agent_hcl, kv_version, rendered_files
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import Assignment, plan_overlay

MANIFEST = """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  hmac_key:
    kind: hex
    bytes: 32
    rotation: hmac
    secondary_env: HMAC_SECONDARY_FILE
    key_id_env: HMAC_KEY_ID
    consumers:
      signer: {env: HMAC_FILE, role: signer}
      listener: {env: HMAC_FILE, role: listener}
backend:
  type: openbao
  address: http://127.0.0.1:8200
  auth: {role_id_file: r, secret_id_file: s}
  agent: {render_interval: 2, network_mode: host}
"""


def phase1():
    manifest = parse_manifest_text(MANIFEST)
    state = {
        "hmac_key": {
            "listener": Assignment(2, 1, "k2-abc"),
            "signer": Assignment(None),
        }
    }
    return manifest, plan_overlay(manifest, state)


def test_a_listener_in_phase_1_renders_both_pinned_versions() -> None:
    manifest, plan = phase1()
    files = rendered_files(manifest, plan)
    assert {(f.service, f.name, f.version) for f in files} == {
        ("listener", "hmac_key", 2),
        ("listener", "hmac_key.previous", 1),
        ("signer", "hmac_key", None),
    }
    pins = {"hmac_key": {"base": 7, "1": 7, "2": 8}}
    assert kv_version(pins, "hmac_key", None) == 7
    hcl = agent_hcl(manifest.backend, files, "http://127.0.0.1:8200", pins)
    assert hcl.count("titan/hmac_key?version=8") == 1
    assert hcl.count("titan/hmac_key?version=7") == 2  # the listener's previous, the signer's
    assert 'static_secret_render_interval = "2s"' in hcl


def test_an_unpinned_file_follows_the_latest_version() -> None:
    manifest, plan = phase1()
    hcl = agent_hcl(manifest.backend, rendered_files(manifest, plan), "http://x:8200", {})
    assert "?version=" not in hcl


def test_the_compose_file_carries_the_plans_variables() -> None:
    manifest, plan = phase1()
    sidecar = Sidecar("./bao-agent.hcl", "./r", "./s", "img:1", "host")
    text = agent_compose(plan, rendered_files(manifest, plan), sidecar)
    assert '"HMAC_KEY_ID": "k2-abc"' in text
    assert '"HMAC_SECONDARY_FILE": "/run/secrets/hmac_key.previous"' in text
    assert '"HMAC_FILE": "/run/secrets/hmac_key"' in text
    assert 'network_mode: "host"' in text
