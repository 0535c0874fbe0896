"""One command parses each compose file once (issue 15): `render` then `verify` in one process
used to parse every base file again for each plan, the services' profiles and gather."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.fakes import FakeCompose, FakeEngine, backends
from tests.unit.ops.test_compose_features import make, running
from titan_deploy.core import yamlgraph
from titan_deploy.ops.render import run_render
from titan_deploy.ops.verify import run_verify


def test_render_and_verify_parse_each_compose_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = {
        "x-run": secrets.token_hex(8),  # a text no other test parsed
        "services": {"app": {"image": "x"}, "worker": {"image": "x"}},
    }
    project = make(tmp_path, compose)
    parsed: list[str] = []
    real = yamlgraph.composed

    def counting(text: str, source: str, line_at):  # type: ignore[no-untyped-def]
        parsed.append(source)
        return real(text, source, line_at)

    monkeypatch.setattr(yamlgraph, "composed", counting)
    run_render(project)
    engine = FakeEngine()
    engine.add(running("app"))
    engine.add(running("worker"))
    report = run_verify(project, backends(engine, FakeCompose(engine, project)))
    assert report.ok, [f.message for f in report.errors]
    assert parsed.count("compose.yml") == 1
