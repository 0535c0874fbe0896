"""A config template's cost is bounded (io/bounded.py, ops/configs.render_bounded): Jinja's
sandbox bounds what a template may reach, not what it may cost. Each template below made the
tool allocate gigabytes or loop for hours before; now each is one clear problem (exit 2 from
the CLI), quickly, naming the limit and never a value. The limits are lowered here (monkeypatch)
only so that a case ends in a second or two; the CLI case runs with the real ones."""

from __future__ import annotations

import os
import secrets as pyrandom
import subprocess
import sys
from pathlib import Path

import pytest

from tests.canary import assert_no_canary
from tests.projectkit import config_project
from titan_deploy.core.configs import TemplateProblem
from titan_deploy.io import bounded
from titan_deploy.io.bounded import Crashed, Exceeded, call_bounded
from titan_deploy.ops.configs import render_bounded

HOSTILE = {
    "str.center": '{{ "x".center(3000000000) }}',
    "percent width": '{{ "%03000000000d" % 1 }}',
    "format width": '{{ "{:>3000000000}".format(pw) }}',
    "filter center": "{{ pw | center(3000000000) }}",
    "replace product": '{{ ("x" * 1000000) | replace("", "y" * 1000000) }}',
    "nested loops": '{% for a in "x" * 1000000 %}{% for b in "x" * 1000000 %}'
    "{% endfor %}{% endfor %}",
    "indent width": "{{ pw | indent(3000000000, true) }}",
}


@pytest.fixture
def quick_limits(monkeypatch) -> None:
    monkeypatch.setattr(bounded, "SECONDS", 1)
    monkeypatch.setattr(bounded, "MEMORY", 128 * 1024 * 1024)


@pytest.mark.parametrize("source", HOSTILE.values(), ids=list(HOSTILE))
def test_a_costly_template_is_one_render_problem_naming_no_value(source, quick_limits) -> None:
    value = f"Pw-{pyrandom.token_urlsafe(24)}".encode()
    with pytest.raises(TemplateProblem) as info:
        render_bounded("t.j2", source, {"pw": value})
    assert info.value.code == "render"
    assert info.value.message.startswith("t.j2:")
    assert_no_canary({"pw": value}, [info.value.message, repr(info.value)])


def test_a_sound_template_renders_as_before(quick_limits) -> None:
    assert render_bounded("t.j2", "requirepass {{ pw | tojson }}\n", {"pw": b"abc"}) == (
        b'requirepass "abc"\n'
    )
    with pytest.raises(TemplateProblem) as info:  # the render's own problem, unchanged
        render_bounded("t.j2", "{{ other }}", {"pw": b"abc"})
    assert info.value.code == "undeclared"


def _boom(text: str) -> None:
    raise ValueError(text)


def _spin() -> None:
    while True:
        pass


def _allocate() -> bytes:
    return b"x" * (1 << 34)


def test_the_child_reports_a_raise_by_type_only_and_each_limit_by_name() -> None:
    assert call_bounded(len, "abc") == 3
    with pytest.raises(Crashed) as crashed:
        call_bounded(_boom, "secret-text")
    assert "ValueError" in str(crashed.value) and "secret-text" not in str(crashed.value)
    with pytest.raises(Exceeded) as spun:
        call_bounded(_spin, seconds=1)
    assert spun.value.limit == "time"
    with pytest.raises(Exceeded) as grown:
        call_bounded(_allocate, memory=64 * 1024 * 1024)
    assert grown.value.limit == "memory"


def test_check_secrets_refuses_a_costly_template_with_one_line(tmp_path: Path) -> None:
    """The real limits, through the console script: exit 1 with the S028 finding (check-secrets
    reports a template that does not render), no traceback; the timeout is a hang guard."""
    project, value = config_project(tmp_path / "p", HOSTILE["percent width"] + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "titan_deploy", "-C", str(project.project_dir), "check-secrets"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "S028" in done.stdout and "memory" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert_no_canary({"v": value}, [done.stdout, done.stderr])
