"""The AWS Secrets Manager renderer sidecar (scripts/aws-agent/render.py) against moto's
in-process Secrets Manager (the real boto3): it writes each file atomically with its mode at the
pinned VersionId (unpinned: AWSCURRENT), rewrites only on a change, and logs names and
VersionIds, never a value nor AWS's error text; plus the manifest's `agent:` for AWS, the
renderer's JSON and compose service (core/agent_aws.py) and VersionId pins (io/backendpins.py).
"""

from __future__ import annotations

import importlib.util
import json
import secrets as pyrandom
import stat
from pathlib import Path

import pytest
import yaml

from tests.backendkit import AWS_ENV
from titan_deploy.core.agent import agent_compose, pin_value, rendered_files
from titan_deploy.core.agent_aws import AWS_CONFIG_PATH, AwsSidecar, aws_agent_json
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "aws-agent" / "render.py"

MANIFEST = """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  db_password:
    kind: password
    consumers: {web: DB_PASSWORD_FILE, api: {env: DB_FILE, target: /run/secrets/sub/db}}
backend:
  type: aws-secretsmanager
  region: us-east-1
  endpoint_url: http://127.0.0.1:5000
  agent: {network_mode: host, render_interval: 2, credentials_file: aws/credentials}
"""


def renderer():
    spec = importlib.util.spec_from_file_location("titan_aws_agent_render", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch):
    from moto import mock_aws

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_renders_the_pinned_version_atomically_and_logs_no_value(
    sm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = pyrandom.token_urlsafe(32), pyrandom.token_urlsafe(32)
    first = sm.create_secret(Name="titan/db", SecretString=old)["VersionId"]
    sm.put_secret_value(SecretId="titan/db", SecretString=new)
    pinned, latest = tmp_path / "web" / "db", tmp_path / "api" / "sub" / "db"
    config = {
        "region": "us-east-1",
        "endpoint_url": "",
        "interval": 1,
        "files": [
            {"secret_id": "titan/db", "version_id": first, "path": str(pinned), "mode": "0444"},
            {"secret_id": "titan/db", "version_id": "", "path": str(latest), "mode": "0440"},
            {"secret_id": "titan/gone", "version_id": "", "path": str(tmp_path / "x" / "g")},
        ],
    }
    path = tmp_path / "agent.json"
    path.write_text("# Rendered by titan-deploy\n" + json.dumps(config))
    module = renderer()
    loaded = module.load_config(str(path))
    client = module.make_client(loaded)
    seen: dict[str, str] = {}
    assert module.render_once(client, loaded, seen) == 1  # titan/gone: logged, others written
    assert pinned.read_text() == old and latest.read_text() == new
    assert stat.S_IMODE(pinned.stat().st_mode) == 0o444
    assert stat.S_IMODE(latest.stat().st_mode) == 0o440
    inode = pinned.stat().st_ino
    assert module.render_once(client, loaded, seen) == 1
    assert pinned.stat().st_ino == inode  # unchanged content: not rewritten
    newest = pyrandom.token_urlsafe(32)
    sm.put_secret_value(SecretId="titan/db", SecretString=newest)
    module.render_once(client, loaded, seen)
    assert latest.read_text() == newest and pinned.read_text() == old
    assert not [p for p in tmp_path.rglob(".titan-aws-agent-*")]  # no temp file left
    err = capsys.readouterr().err
    assert "ResourceNotFoundException" in err and first in err
    for value in (old, new, newest):
        assert value not in err


def test_a_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "agent.json"
    bad.write_text('{"files": [{"secret_id": "x", "path": "relative"}]}')
    assert renderer().main(["render.py", str(bad)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_manifest_agent_for_aws_renders_json_and_the_sidecar() -> None:
    manifest = parse_manifest_text(MANIFEST)
    config = manifest.backend
    assert config is not None and config.agent and config.agent_network_mode == "host"
    assert config.agent_credentials_file == "aws/credentials"
    files = rendered_files(manifest)
    text = aws_agent_json(config, files, {"db_password": {"base": "abc-123"}})
    assert text.startswith("# Rendered by titan-deploy")
    body = json.loads(text.split("\n", 1)[1])
    assert body["endpoint_url"] == "http://127.0.0.1:5000" and body["interval"] == 2
    assert {(f["secret_id"], f["version_id"], f["path"]) for f in body["files"]} == {
        ("titan/db_password", "abc-123", "/out/web/db_password"),
        ("titan/db_password", "abc-123", "/out/api/sub/db"),
    }
    sidecar = AwsSidecar("./aws-agent.json", "./aws/credentials", None, "img:1", "host")
    compose = yaml.safe_load(agent_compose(manifest_plan(manifest), files, sidecar))
    agent = compose["services"]["secrets-agent"]
    assert agent["command"] == [AWS_CONFIG_PATH] and agent["network_mode"] == "host"
    assert agent["environment"] == {"AWS_SHARED_CREDENTIALS_FILE": "/run/aws-agent/credentials"}
    assert "./aws/credentials:/run/aws-agent/credentials:ro" in agent["volumes"]
    assert "secrets-web:/out/web" in agent["volumes"]


def manifest_plan(manifest):
    from titan_deploy.core.overlay import plan_overlay

    return plan_overlay(manifest)


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("{address: http://x:1}", "backend.agent.address: unknown key"),
        ("{credentials_file: ''}", "backend.agent.credentials_file: should be a file path"),
        ("{endpoint_url: ftp://x}", "backend.agent.endpoint_url: should be"),
    ],
)
def test_the_aws_agent_section_is_checked(agent: str, message: str) -> None:
    text = MANIFEST.replace(
        "agent: {network_mode: host, render_interval: 2, credentials_file: aws/credentials}",
        f"agent: {agent}",
    )
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_manifest_text(text)


def test_pins_hold_version_ids(tmp_path: Path) -> None:
    from titan_deploy.io import backendpins
    from titan_deploy.project import Project

    assert pin_value("7") == 7 and pin_value("a1-b2") == "a1-b2" and pin_value("") is None
    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST)
    project = Project(project_dir=tmp_path)
    backendpins.save(project, {"db_password": {"base": "0b1e-77", "2": 3}})
    assert backendpins.load(project) == {"db_password": {"base": "0b1e-77", "2": 3}}
    (project.state_dir / backendpins.NAME).write_text('{"db_password": {"base": "a b"}}')
    with pytest.raises(ConfigError, match=r"backend-pins\.json: not the pins"):
        backendpins.load(project)


def test_render_agent_writes_the_aws_files_and_check_sees_them_current(tmp_path: Path) -> None:
    from titan_deploy.io import backendpins
    from titan_deploy.ops.render_agent import AWS_CONFIG_FILE, COMPOSE_FILE, run_render_agent
    from titan_deploy.project import Project

    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST)
    compose = {"services": {"web": {"image": "x"}, "api": {"image": "x"}}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose))
    project = Project(project_dir=tmp_path)
    backendpins.save(project, {"db_password": {"base": "5f1c-0a"}})
    written = run_render_agent(project)
    assert written.data["files"] == [AWS_CONFIG_FILE, COMPOSE_FILE]
    body = json.loads((tmp_path / AWS_CONFIG_FILE).read_text().split("\n", 1)[1])
    assert {f["version_id"] for f in body["files"]} == {"5f1c-0a"}
    agent = yaml.safe_load((tmp_path / COMPOSE_FILE).read_text())["services"]["secrets-agent"]
    assert agent["image"] == "titan-deploy/aws-agent:local"
    assert run_render_agent(project, check=True).ok
    backendpins.save(project, {"db_password": {"base": "77aa"}})  # up pinned another version
    assert not run_render_agent(project, check=True).ok
    assert run_render_agent(project).ok and "77aa" in (tmp_path / AWS_CONFIG_FILE).read_text()
