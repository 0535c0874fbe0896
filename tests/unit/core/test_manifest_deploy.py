"""The manifest's `deploy:` (core/manifest_deploy.py, README "Several hosts")."""

from __future__ import annotations

import pytest

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.errors import ConfigError

BASE = "version: 1\nsecrets: {k: {kind: text, consumers: {a: K_FILE}}}\n"


def test_default_is_compose():
    deploy = parse_manifest_text(BASE).deploy
    assert deploy.engine == "compose" and deploy.nodes == ()
    assert deploy.stack_overlay == "docker-stack.secrets.yml"


def test_swarm_with_nodes():
    text = BASE + (
        "deploy:\n  engine: swarm\n  stack_overlay: stack.yml\n"
        "  nodes: {worker-1: 'ssh://deploy@10.0.0.2', w2: 'tcp://10.0.0.3:2376',"
        " w3: 'unix:///run/w3.sock'}\n"
    )
    deploy = parse_manifest_text(text).deploy
    assert deploy.engine == "swarm" and deploy.stack_overlay == "stack.yml"
    assert deploy.endpoint("worker-1") == "ssh://deploy@10.0.0.2"
    assert deploy.endpoint("w3") == "unix:///run/w3.sock"
    assert deploy.endpoint("other") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("deploy: {engine: k8s}", "deploy.engine: should be one of compose, swarm"),
        ("deploy: {extra: 1}", "deploy.extra: unknown key"),
        ("deploy: {nodes: {w1: 'ssh://-oProxyCommand=x'}}", "deploy.nodes.w1: should be an engine"),
        ("deploy: {nodes: {w1: 'http://x'}}", "deploy.nodes.w1: should be an engine"),
        ("deploy: {nodes: {'-w': 'tcp://h:1'}}", "node name must be a hostname"),
        ("deploy: {stack_overlay: ../x.yml}", "deploy.stack_overlay: must be a path inside"),
    ],
)
def test_bad_deploy_is_a_config_error(body: str, message: str):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_manifest_text(BASE + body + "\n")
