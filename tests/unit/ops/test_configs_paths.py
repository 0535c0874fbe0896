"""A config (`configs:`, README "Config files") on every path that handles the values an operator
supplies: those hold `Manifest.stored` (the secrets), never the rendered configs. Each either
works with a config in the manifest or refuses it in one line (exit 2), never a traceback nor a
silently missing file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyrage import x25519

from tests.canary import assert_no_canary
from tests.fakes import FakeCompose, FakeEngine
from tests.projectkit import config_project
from titan_deploy.errors import UsageError
from titan_deploy.ops.backup import run_backup
from titan_deploy.ops.configs import write_configs
from titan_deploy.ops.init import run_init
from titan_deploy.ops.restore import run_restore


def _with_recipient(tmp_path: Path):  # type: ignore[no-untyped-def]
    identity = x25519.Identity.generate()
    head = f"backup:\n  recipients: [{identity.to_public()}]\n"
    return config_project(tmp_path / "p", head=head)


def test_backup_copies_the_inputs_and_refuses_a_config_by_name(tmp_path: Path) -> None:
    project, _ = _with_recipient(tmp_path)
    write_configs(project)
    report = run_backup(project)
    assert [r["secret"] for r in report.rows] == ["redis_password"]
    with pytest.raises(UsageError, match=r"redis_conf is a config rendered from redis_password"):
        run_backup(project, ["redis_conf"])


def test_restore_refuses_a_config_and_an_input_of_one_before_reading_anything(
    tmp_path: Path,
) -> None:
    """A restore repoints the input's consumers only: redis would keep a redis.conf rendered
    from the old password while its clients get the restored one."""
    project, _ = _with_recipient(tmp_path)
    run_backup(project)
    missing = tmp_path / "no-identity"  # never read: the refusal comes first

    def yes(_: str) -> bool:
        raise AssertionError("asked")

    with pytest.raises(UsageError, match=r"redis_conf is a config"):
        run_restore(project, "redis_conf", None, missing, confirm=yes)
    with pytest.raises(UsageError) as info:
        run_restore(project, "redis_password", None, missing, confirm=yes)
    assert "input of config redis_conf" in str(info.value)
    assert "| titan-deploy rotate secret redis_password" in str(info.value)
    assert sorted(p.name for p in project.secrets_dir.iterdir()) == ["redis_password"]


def test_init_from_sops_names_a_config_key_instead_of_dropping_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from titan_deploy.io import sops

    project, value = config_project(tmp_path / "p")
    (project.secrets_dir / "redis_password").unlink()
    monkeypatch.setattr(
        sops, "decrypt", lambda path: {"redis_password": value.decode(), "redis_conf": "x" * 20}
    )
    report = run_init(project, from_sops=tmp_path / "s.enc.yaml")
    assert [(r["secret"], r["action"]) for r in report.rows] == [
        ("redis_password", "imported (sops)")
    ]
    warned = [f.message for f in report.findings if f.code == "I004"]
    assert warned and "redis_conf is a config" in warned[0]
    assert not (project.secrets_dir / "redis.conf").exists()
    assert_no_canary({"redis_password": value}, [f.message for f in report.findings])


def test_swarm_objects_hold_the_rendered_config(tmp_path: Path) -> None:
    """On Swarm the config becomes an object like a secret: the stack stage reads the file the
    render stage wrote (ops/swarm_up.render_stack_overlay)."""
    from titan_deploy.ops.render import run_render
    from titan_deploy.ops.swarm_up import render_stack_overlay

    project, value = config_project(tmp_path / "p")
    (project.project_dir / "docker-compose.yml").write_text(
        "services:\n  redis: {image: x}\n  client: {image: x}\n"
    )
    engine = FakeEngine()
    compose = FakeCompose(engine, project)
    assert run_render(project, compose_for=lambda *_: compose).ok
    values: dict[str, bytes] = {}
    report = render_stack_overlay(project, values, lambda *_: compose, lambda image: None)
    assert report.ok, [f.message for f in report.findings]
    assert values["redis_conf"] == b'appendonly yes\nrequirepass "' + value + b'"\n'
    stack = (project.project_dir / project.manifest.deploy.stack_overlay).read_text()
    assert 'source: "redis_conf"\n        target: "redis.conf"' in stack  # /run/secrets/redis.conf
    assert_no_canary({"redis_password": value}, [stack, report.summary])
