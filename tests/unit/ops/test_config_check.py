"""check-secrets checks every config in ONE bounded child, started before its other checks
(ops/config_check.py): the child's work (Jinja's import, the renders) runs beside them. A costly
template among several is still named alone, and a child whose result is not taken is reaped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.canary import assert_no_canary
from tests.projectkit import config_project
from titan_deploy.io import bounded
from titan_deploy.ops import check as check_ops
from titan_deploy.ops.check import run_check
from titan_deploy.project import Project

SOUND = "requirepass {{ redis_password | tojson }}\n"
COSTLY = '{{ "%03000000000d" % 1 }}\n'
SECOND = """\
  dsn_conf:
    template: templates/dsn.j2
    inputs: [redis_password]
    file: dsn.conf
    consumers: {client: {target: /run/secrets/dsn.conf}}
"""


def _two_configs(root: Path, dsn_template: str) -> tuple[Project, bytes]:
    _, value = config_project(root, SOUND)
    manifest = root / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text() + SECOND)  # `configs:` is the manifest's last key
    (root / "templates" / "dsn.j2").write_text(dsn_template)
    return Project(root), value


def test_every_config_is_checked_in_one_child_started_before_the_other_checks(
    tmp_path: Path, monkeypatch
) -> None:
    project, _ = _two_configs(tmp_path / "p", "redis://:{{ redis_password }}@redis\n")
    events: list[str] = []
    real_fork, real_inspect = os.fork, check_ops.inspect_store

    def fork() -> int:
        events.append("fork")
        return real_fork()

    def inspect(project: Project):
        events.append("inspect_store")
        return real_inspect(project)

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(check_ops, "inspect_store", inspect)
    report = run_check(project)
    assert [f.code for f in report.findings if f.code in ("S027", "S028")] == []
    assert events == ["fork", "inspect_store"]


def test_a_costly_template_among_several_is_named_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bounded, "SECONDS", 1)
    monkeypatch.setattr(bounded, "MEMORY", 128 * 1024 * 1024)
    project, value = _two_configs(tmp_path / "p", COSTLY)
    report = run_check(project)
    found = [(f.code, f.secret) for f in report.findings if f.code in ("S027", "S028")]
    assert found == [("S028", "dsn_conf")]
    messages = [f.message for f in report.findings]
    assert any("memory" in m or "CPU" in m for m in messages), messages
    assert_no_canary({"v": value}, messages)


def _sleep() -> None:
    time.sleep(60)


def test_a_child_whose_result_is_not_taken_is_killed_and_reaped() -> None:
    pending = bounded.start_bounded(_sleep)
    pid = pending._pid
    pending.close()
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)
    pending.close()  # a second close is a no-op
