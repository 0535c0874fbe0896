"""Config files on disk (ops/configs.py, README "Config files"): rendered atomically with the
secrets' mode, check-secrets' S027/S028, and audit-logs searching the values a rendered file
holds even when the input's own file is gone."""

from __future__ import annotations

import secrets as pyrandom
from pathlib import Path

from tests.canary import assert_no_canary
from tests.projectkit import config_project
from titan_deploy.core.leaks import hits_in_line
from titan_deploy.ops.audit import patterns_for
from titan_deploy.ops.check import run_check
from titan_deploy.ops.configs import write_configs


def test_render_writes_the_config_with_the_secrets_mode(tmp_path: Path) -> None:
    project, value = config_project(tmp_path / "p")
    assert write_configs(project) == {"redis_conf": "written"}
    path = project.secrets_dir / "redis.conf"
    assert path.read_bytes() == b'appendonly yes\nrequirepass "' + value + b'"\n'
    assert path.stat().st_mode & 0o777 == 0o600
    assert write_configs(project) == {"redis_conf": "unchanged"}
    report = run_check(project)
    assert report.ok, [f.message for f in report.findings]


def test_check_secrets_names_an_undeclared_input_and_a_failing_render(tmp_path: Path) -> None:
    project, _ = config_project(tmp_path / "a", "requirepass {{ redis_pasword }}\n")
    codes = {f.code for f in run_check(project).findings}
    assert "S027" in codes
    project, value = config_project(tmp_path / "b", "{{ redis_password[redis_password] }}\n")
    report = run_check(project)
    found = [f for f in report.findings if f.code == "S028"]
    assert found and not report.ok
    assert_no_canary({"v": value}, [f.message for f in report.findings])


def test_audit_searches_a_value_only_a_rendered_version_still_holds(tmp_path: Path) -> None:
    project, value = config_project(tmp_path / "p")
    write_configs(project)
    gone = f"Old-{pyrandom.token_urlsafe(24)}".encode()
    rendered = b'appendonly yes\nrequirepass "' + gone + b'"\n'
    (project.secrets_dir / "redis.conf.v1").write_bytes(rendered)  # its input's v1 is gone
    patterns = patterns_for(project)
    assert hits_in_line(b"AUTH " + gone, patterns) == [("redis_password", "raw")]
    assert hits_in_line(b"AUTH " + value, patterns) == [("redis_password", "raw")]
    assert hits_in_line(b"appendonly yes", patterns) == []  # the file itself is no pattern
