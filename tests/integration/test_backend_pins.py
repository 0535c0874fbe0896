"""Pinned versions are kept (README "Secrets managers", core/backendhold.py), against the REAL
servers: `bao server -dev` (KV v2 max_versions) and moto's Secrets Manager (staging labels)
driven by the real boto3 and hvac. No Docker engine needed (tests/backendkit.py starts the
servers on 127.0.0.1, random ports, and stops them).

- OpenBao: a key with max_versions 3 and a consumer pinned to version 1: a `push` that would
  destroy version 1 is refused (B006, exit 1) and writes nothing; check-secrets --backend warns
  that the next write destroys it (B008); once it is destroyed, B007 (exit 1); with the pin
  moved, the push writes.
- Secrets Manager: a pinned VersionId carries `titan-deploy-<VersionId>` and keeps it through
  two more writes (`push`), loses it once unpinned; a version without it is B008, a pinned
  VersionId the secret does not have B007.
"""

from __future__ import annotations

import json
import secrets as pyrandom
from pathlib import Path

import pytest

from tests.backendkit import (
    Server,
    aws_manifest,
    openbao_manifest,
)
from tests.canary import Canaries
from tests.projectkit import small_project

MANIFEST = "version: 1\ncompose_files: [compose.yml]\nsecrets:\n" + (
    "  api_token: {kind: token, consumers: {web: API_TOKEN_FILE}}\n"
)


@pytest.fixture(autouse=True)
def _aws(aws_env) -> None:
    """The standard AWS variables for every test here (backend_fixtures.aws_env)."""


def token(value: str) -> bytes:
    return f"tok-{value}-{pyrandom.token_urlsafe(24)}".encode()


def set_local(project_dir: Path, value: bytes) -> None:
    path = project_dir / "secrets" / "api_token"
    path.write_bytes(value)
    path.chmod(0o600)


def run_json(cli, project_dir: Path, *args: str) -> tuple[int, dict, str]:
    result = cli("-C", project_dir, "--json", *args)
    return result.exit_code, json.loads(result.stdout), result.stdout + (result.stderr or "")


def codes(doc: dict) -> list[tuple[str, str]]:
    return sorted((f["code"], f["severity"]) for f in doc["findings"] if f["code"][0] == "B")


def test_openbao_refuses_a_push_that_destroys_a_pinned_version(bao: Server, tmp_path, cli):
    """max_versions 3, versions 1..3, a pin on 1: push (version 4 would destroy 1) is refused,
    nothing written; B008 before, B007 once destroyed; the pin moved, push writes."""
    import hvac

    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect

    prefix = "titan/" + pyrandom.token_hex(4)
    (tmp_path / "tok").write_text(bao.token)
    section = openbao_manifest(bao, prefix, f"{{token_file: {tmp_path / 'tok'}}}")
    values = {f"v{i}": token(f"v{i}") for i in range(1, 6)}
    project = small_project(tmp_path / "p", MANIFEST + section, {"api_token": values["v4"]})
    backend = connect(project)
    first = backend.write("api_token", values["v1"], None)
    root = hvac.Client(url=bao.url, token=bao.token)
    root.secrets.kv.v2.update_metadata(
        path=f"{prefix}/api_token", max_versions=3, mount_point="secret"
    )
    for name in ("v2", "v3"):
        backend.write("api_token", values[name], backend.read("api_token"))
    backendpins.pin(project, "api_token", "base", int(first), backend)
    canaries = Canaries(values)

    code, doc, out = run_json(cli, project.project_dir, "push")
    assert code == 1, out
    assert [r["action"] for r in doc["rows"]] == ["refused"]
    assert codes(doc) == [("B006", "error")]
    [finding] = [f for f in doc["findings"] if f["code"] == "B006"]
    location = backend.config.location("api_token")
    assert finding["message"].startswith(f"{location}: this write would destroy version 1")
    assert "max_versions 3" in finding["message"] and "titan-deploy up" in finding["message"]
    latest = backend.read("api_token")
    assert latest is not None and latest.version == "3"  # nothing written
    assert backend.read_version("api_token", "1") is not None

    code, doc, more = run_json(cli, project.project_dir, "check-secrets", "--backend")
    assert code == 0 and codes(doc) == [("B008", "warning")], more
    out += more
    root.secrets.kv.v2.destroy_secret_versions(
        path=f"{prefix}/api_token", versions=[1], mount_point="secret"
    )
    code, doc, more = run_json(cli, project.project_dir, "check-secrets", "--backend")
    assert code == 1 and codes(doc) == [("B007", "error")], more
    assert "pinned version 1 is destroyed" in json.dumps(doc["findings"])
    out += more

    backendpins.pin(project, "api_token", "base", 3, backend)  # what `up` does
    code, doc, more = run_json(cli, project.project_dir, "push")
    assert code == 0 and [r["action"] for r in doc["rows"]] == ["update"], more
    assert doc["rows"][0]["version"] == "4"
    canaries.assert_clean(out + more, "openbao pins")


def test_openbao_mount_max_versions_applies_when_the_key_sets_none(bao: Server, tmp_path):
    """A KV v2 mount with max_versions 2 and a key without its own: a rotation-style write
    (the backend's own `write`) that would destroy the pinned version raises PinAtRisk."""
    import hvac

    from titan_deploy.core.backendhold import PinAtRisk
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect

    mount = "kv" + pyrandom.token_hex(3)
    root = hvac.Client(url=bao.url, token=bao.token)
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    root.secrets.kv.v2.configure(max_versions=2, mount_point=mount)
    (tmp_path / "tok").write_text(bao.token)
    section = openbao_manifest(bao, "t", f"{{token_file: {tmp_path / 'tok'}}}")
    section += f"  mount: {mount}\n"
    project = small_project(tmp_path / "p", MANIFEST + section, {})
    backend = connect(project)
    values = [token("m") for _ in range(3)]
    first = backend.write("api_token", values[0], None)
    backendpins.pin(project, "api_token", "base", int(first), backend)
    backend.write("api_token", values[1], backend.read("api_token"))  # 2 kept: 1 and 2
    with pytest.raises(PinAtRisk) as caught:
        backend.write("api_token", values[2], backend.read("api_token"))
    assert "would destroy version 1" in str(caught.value) and "max_versions 2" in str(caught.value)
    latest = backend.read("api_token")
    assert latest is not None and latest.version == "2"
    Canaries({str(i): v for i, v in enumerate(values)}).assert_clean(str(caught.value), "mount")


def labels(server: Server, name: str) -> dict[str, list[str]]:
    import boto3

    client = boto3.client("secretsmanager", endpoint_url=server.url, region_name="us-east-1")
    answer = client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
    return {v["VersionId"]: v.get("VersionStages", []) for v in answer["Versions"]}


def test_aws_pinned_version_keeps_its_label(moto: Server, tmp_path, cli):
    """A pinned VersionId carries titan-deploy-<id> through two pushes (it loses AWSCURRENT and
    AWSPREVIOUS), stays readable, and loses the label once unpinned; findings B008/B007."""
    from titan_deploy.core.backendhold import label_of
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect
    from titan_deploy.ops.check_backend import pin_findings

    prefix = "titan/" + pyrandom.token_hex(4)
    values = {f"v{i}": token(f"a{i}") for i in range(1, 4)}
    project = small_project(
        tmp_path / "p", MANIFEST + aws_manifest(moto, prefix), {"api_token": values["v1"]}
    )
    name = f"{prefix}/api_token"
    canaries = Canaries(values)
    code, doc, out = run_json(cli, project.project_dir, "push")
    assert code == 0, out
    backend = connect(project)
    first = doc["rows"][0]["version"]
    backendpins.pin(project, "api_token", "base", first, backend)
    assert label_of(first) in labels(moto, name)[first]

    for value in ("v2", "v3"):
        set_local(project.project_dir, values[value])
        code, doc, more = run_json(cli, project.project_dir, "push")
        assert code == 0 and doc["rows"][0]["action"] == "update", more
        out += more
    now = labels(moto, name)
    assert len(now) == 3 and now[first] == [label_of(first)]  # AWSCURRENT, AWSPREVIOUS moved on
    kept = backend.read_version("api_token", first)
    assert kept is not None and kept.value == values["v1"]
    assert pin_findings(project, backend) == []

    import boto3  # without its label, the version is at risk (B008)

    client = boto3.client("secretsmanager", endpoint_url=moto.url, region_name="us-east-1")
    client.update_secret_version_stage(
        SecretId=name, VersionStage=label_of(first), RemoveFromVersionId=first
    )
    code, doc, more = run_json(cli, project.project_dir, "check-secrets", "--backend")
    assert code == 0 and codes(doc) == [("B008", "warning")], more
    assert "no label at all: AWS may delete it" in json.dumps(doc["findings"])
    out += more
    backendpins.pin(project, "api_token", "base", first, backend)  # unchanged: up repairs
    backendpins.save(project, backendpins.load(project), backend, every=True)
    assert labels(moto, name)[first] == [label_of(first)]

    lost = "a" * 8 + "-" + "b" * 27  # a VersionId the secret never had
    backendpins.pin(project, "api_token", "2", lost, backend)
    [finding] = pin_findings(project, backend)
    assert finding.code == "B007" and f"pinned version {lost} is missing" in finding.message

    backendpins.save(project, {}, backend)  # unpinned: titan-deploy's labels removed
    assert not any(
        label.startswith("titan-deploy-")
        for stages in labels(moto, name).values()
        for label in stages
    )
    canaries.assert_clean(out, "aws pins")


def test_openbao_without_metadata_read(bao: Server, tmp_path):
    """A policy without read on metadata/: a write with a pin is refused (exit 3, naming the
    policy path), nothing written; a lost pin is still found, by reading the pinned version."""
    import hvac

    from titan_deploy.errors import RuntimeFailure
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect

    prefix = "titan/" + pyrandom.token_hex(4)
    root = hvac.Client(url=bao.url, token=bao.token)
    policy = f'path "secret/data/{prefix}/*" {{ capabilities = ["create", "read", "update"] }}'
    root.sys.create_or_update_policy(name="datao" + prefix[-8:], policy=policy)
    limited = root.auth.token.create(policies=["datao" + prefix[-8:]], ttl="1h")
    (tmp_path / "tok").write_text(limited["auth"]["client_token"])
    section = openbao_manifest(bao, prefix, f"{{token_file: {tmp_path / 'tok'}}}")
    project = small_project(tmp_path / "p", MANIFEST + section, {})
    backend = connect(project)
    values = [token("d") for _ in range(3)]
    first = backend.write("api_token", values[0], None)  # no pin yet: no metadata needed
    backendpins.pin(project, "api_token", "base", int(first), backend)
    with pytest.raises(RuntimeFailure) as caught:
        backend.write("api_token", values[1], backend.read("api_token"))
    assert f"secret/metadata/{prefix}/*" in str(caught.value)
    latest = backend.read("api_token")
    assert latest is not None and latest.version == "1"
    root.secrets.kv.v2.destroy_secret_versions(
        path=f"{prefix}/api_token", versions=[1], mount_point="secret"
    )
    [state] = backend.pin_states("api_token", {"1"})
    assert state.lost and state.version == "1"
    Canaries({str(i): v for i, v in enumerate(values)}).assert_clean(str(caught.value), "nometa")
