"""A rolled-back rotation on the AWS agent path moves AWSCURRENT back (io/awssm.py
`restore_current`, ops/rotate/agent_effects.py `remove_versions`; README "Secrets managers"):
the rollback's last step unpins the versions the rotation wrote, and where AWSCURRENT is on one
of them it goes back to the base pin, so `up` (which pins AWSCURRENT) and every other AWS
client do not take the aborted value. Against moto's in-process Secrets Manager with the real
boto3. The engine counterpart: tests/integration/test_backend_agent_aws.py (`rotate abort`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backendkit import AWS_ENV
from tests.projectkit import small_project
from titan_deploy.core.rotation import Journal, RemoveVersions
from titan_deploy.io import backendpins
from titan_deploy.io.awssm import AwsSecretsManager
from titan_deploy.ops.rotate.agent_effects import AgentEffects
from titan_deploy.project import Project

MANIFEST = """version: 1
compose_files: [compose.yml]
secrets:
  api_token: {kind: token, generate: true, rotation: restart, consumers: {web: TOKEN_FILE}}
backend: {type: aws-secretsmanager, prefix: titan, region: us-east-1, agent: {}}
"""
NAME = "titan/api_token"


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(project, its AgentEffects on the real AwsSecretsManager, a boto3 client) under moto."""
    from moto import mock_aws

    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        import boto3

        project = small_project(tmp_path / "p", MANIFEST, {})
        project = Project(project_dir=project.project_dir, project_name="tdaws")
        assert project.manifest.backend is not None
        effects = AgentEffects(project, compose_for=lambda *_: None)  # type: ignore[arg-type,return-value]
        effects.__dict__["backend"] = AwsSecretsManager(project.manifest.backend)
        yield project, effects, boto3.client("secretsmanager", region_name="us-east-1")


def current(sm) -> str:
    """AWSCURRENT's VersionId (named: moto's default read ignores a moved label)."""
    return sm.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["VersionId"]


def test_a_rollback_moves_awscurrent_back_from_the_version_it_wrote(aws) -> None:
    project, effects, sm = aws
    before = sm.create_secret(Name=NAME, SecretString="o" * 43)["VersionId"]
    aborted = sm.put_secret_value(SecretId=NAME, SecretString="n" * 43)["VersionId"]
    backendpins.save(project, {"api_token": {"base": before, "2": aborted}})
    # the rollback's RemoveVersions: version 2 was written by the rotation, nothing uses it
    note = effects.remove_versions(RemoveVersions("api_token", (2,)), Journal())
    assert current(sm) == before
    assert "moved back" in note and "n" * 12 not in note
    assert backendpins.load(project) == {"api_token": {"base": before}}
    # a crash right after it re-runs the step: nothing more moves
    backendpins.save(project, {"api_token": {"base": before, "2": aborted}})
    assert "moved back" not in effects.remove_versions(RemoveVersions("api_token", (2,)), Journal())
    assert current(sm) == before


def test_a_forward_cleanup_or_someone_elses_write_stays_current(aws) -> None:
    project, effects, sm = aws
    old = sm.create_secret(Name=NAME, SecretString="o" * 43)["VersionId"]
    new = sm.put_secret_value(SecretId=NAME, SecretString="n" * 43)["VersionId"]
    # the completed rotation's cleanup: the base moved to the new version, the old one goes
    backendpins.save(project, {"api_token": {"base": new, "1": old, "2": new}})
    effects.remove_versions(RemoveVersions("api_token", (1,)), Journal())
    assert current(sm) == new
    # a rollback while someone else wrote after the rotation: their version stays current
    theirs = sm.put_secret_value(SecretId=NAME, SecretString="t" * 43)["VersionId"]
    backendpins.save(project, {"api_token": {"base": old, "2": new}})
    effects.remove_versions(RemoveVersions("api_token", (2,)), Journal())
    assert current(sm) == theirs
