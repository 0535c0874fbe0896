"""Issue 10 item 4, the ops' side against the fakes (tests/fakes.py): `include:` followed by the
tool's own compose reader, consumers in an inactive profile reported as not active, `up --build`,
render validating the merged result before it writes. The real Compose v2 side is
tests/integration/test_compose_features_engine.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fakes import FakeCompose, FakeContainer, FakeEngine, FakeFile, backends
from titan_deploy.errors import ConfigError
from titan_deploy.io.composefiles import load_compose_files
from titan_deploy.io.composerun import ComposeRejected
from titan_deploy.ops.render import defined_services, run_render
from titan_deploy.ops.status import run_status
from titan_deploy.ops.up import built_services, run_up
from titan_deploy.ops.verify import run_verify
from titan_deploy.project import Project

NAME = "tdfake-features"
VALUE = b"Zq8yW1vB3nR5tK7pL9mX2cD4fG6hJ0sA"


def make(tmp_path: Path, compose: dict, extra: dict[str, dict] | None = None, **kw) -> Project:
    """A project whose manifest has `api_token` consumed by `app` and `worker`."""
    manifest = {
        "version": 1,
        "compose_files": ["compose.yml"],
        "secrets": {
            "api_token": {
                "kind": "token",
                "consumers": {"app": "API_TOKEN_FILE", "worker": "API_TOKEN_FILE"},
            }
        },
    }
    (tmp_path / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest))
    (tmp_path / "compose.yml").write_text(yaml.safe_dump(compose))
    for name, doc in (extra or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc))
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "api_token").write_bytes(VALUE)
    (tmp_path / "secrets" / "api_token").chmod(0o600)
    return Project(project_dir=tmp_path, project_name=NAME, **kw)


def running(service: str) -> FakeContainer:
    path = "/run/secrets/api_token"
    return FakeContainer(NAME, service, env={"API_TOKEN_FILE": path}, files={path: FakeFile(VALUE)})


# --- include: ---------------------------------------------------------------------------------


def test_services_of_an_included_file_are_defined(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        {"include": ["sub/worker.yml"], "services": {"app": {"image": "x"}}},
        {"sub/worker.yml": {"include": [{"path": "deeper.yml"}], "services": {}}},
    )
    (tmp_path / "sub" / "deeper.yml").write_text("services: {worker: {image: y}}\n")
    assert defined_services(project) == {"app", "worker"}
    run_render(project)  # without the include followed: "worker not defined", exit 2
    overlay = (tmp_path / "docker-compose.secrets.yml").read_text()
    assert '"worker":' in overlay


def test_the_reader_puts_includes_first_and_marks_files_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yml"
    outside.write_text("services: {worker: {image: y}}\n")
    root = tmp_path / "p"
    root.mkdir()
    (root / "c.yml").write_text("include: [../outside.yml, c.yml, missing.yml]\nservices: {}\n")
    docs = load_compose_files(root, ["c.yml"])
    assert [(d.display, d.included, d.inside) for d in docs] == [
        (str(outside), True, False),
        ("c.yml", False, True),
    ]


def test_a_consumer_defined_nowhere_is_still_refused(tmp_path: Path) -> None:
    project = make(tmp_path, {"services": {"app": {"image": "x"}}})
    with pytest.raises(ConfigError, match="worker not defined"):
        run_render(project)


# --- --profile: verify knows which services are active -----------------------------------------

PROFILED = {
    "services": {
        "app": {"image": "x"},
        "worker": {"image": "x", "profiles": ["jobs"]},
    }
}


def test_a_consumer_in_an_inactive_profile_is_not_active_not_missing(tmp_path: Path) -> None:
    project = make(tmp_path, PROFILED)
    run_render(project)
    engine = FakeEngine()
    engine.add(running("app"))
    compose = FakeCompose(engine, project)
    report = run_verify(project, backends(engine, compose))
    assert report.ok, [f.message for f in report.errors]
    assert compose.calls == ["services"]
    worker = next(r for r in report.rows if r["service"] == "worker")
    assert worker["problem"] == "not active (profile jobs)"
    assert report.data["inactive"] == {"worker": ["jobs"]}
    assert report.data["pairs"] == 1
    assert "not active: worker (profile jobs)" in report.summary


def test_status_marks_a_consumer_in_an_inactive_profile_not_active(tmp_path: Path) -> None:
    """status tells the same truth as verify: an inactive consumer is neither absent nor failing."""
    project = make(tmp_path, PROFILED)
    run_render(project)
    engine = FakeEngine()
    engine.add(running("app"))
    report = run_status(project, backends(engine, FakeCompose(engine, project)))
    worker = next(r for r in report.rows if r["service"] == "worker")
    assert worker["secrets"] == "not active (profile jobs)"
    assert report.data["inactive"] == {"worker": ["jobs"]}


def test_a_consumer_in_an_active_profile_that_is_not_running_fails(tmp_path: Path) -> None:
    project = make(tmp_path, PROFILED, profiles=["jobs"])
    run_render(project)
    engine = FakeEngine()
    engine.add(running("app"))
    report = run_verify(project, backends(engine, FakeCompose(engine, project)))
    assert not report.ok
    assert {f.service for f in report.errors} == {"worker"}


def test_without_profiles_in_the_files_verify_never_asks_compose(tmp_path: Path) -> None:
    project = make(tmp_path, {"services": {"app": {"image": "x"}, "worker": {"image": "x"}}})
    run_render(project)
    engine = FakeEngine()
    engine.add(running("app"))
    engine.add(running("worker"))
    assert run_verify(project, backends(engine)).ok  # backends(engine): compose would fail


# --- up --build ---------------------------------------------------------------------------------


def test_up_build_passes_build_to_compose_and_says_what_it_builds(tmp_path: Path) -> None:
    compose_doc = {
        "services": {"app": {"image": "x", "build": {"context": "."}}, "worker": {"image": "x"}}
    }
    project = make(tmp_path, compose_doc)
    assert built_services(project) == ("app",)
    engine = FakeEngine()
    compose = FakeCompose(engine, project)
    progress: list[str] = []
    report = run_up(project, backends(engine, compose), progress=progress.append, build=True)
    assert report.ok, [f.message for f in report.errors]
    assert "up --build" in compose.calls
    assert any("building the images of app" in line for line in progress)
    compose.calls.clear()
    run_up(project, backends(engine, compose), build=False)
    assert "up" in compose.calls and "up --build" not in compose.calls


# --- render validates before it writes ----------------------------------------------------------


class Rejecting(FakeCompose):
    def validate(self) -> None:
        self.calls.append("validate")
        raise ComposeRejected(
            "docker compose config failed (exit 15): invalid", argv=["c"], returncode=15, stderr=""
        )


def test_render_writes_nothing_when_compose_rejects_the_merged_result(tmp_path: Path) -> None:
    project = make(tmp_path, {"services": {"app": {"image": "x"}, "worker": {"image": "x"}}})
    compose = Rejecting(FakeEngine(), project)
    with pytest.raises(ComposeRejected, match="not written"):
        run_render(project, compose_for=compose)
    assert compose.calls == ["validate"]
    assert not (tmp_path / "docker-compose.secrets.yml").exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_render_writes_once_compose_accepts(tmp_path: Path) -> None:
    project = make(tmp_path, {"services": {"app": {"image": "x"}, "worker": {"image": "x"}}})
    compose = FakeCompose(FakeEngine(), project)
    report = run_render(project, compose_for=compose)
    assert compose.calls == ["validate"]
    assert report.data["validated"] is True
    assert (tmp_path / "docker-compose.secrets.yml").exists()
