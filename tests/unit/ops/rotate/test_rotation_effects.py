"""ops/rotate/effects.py: a StackEffects does no I/O when it is constructed (issue 11.2).

The manifest, the engine, the compose project name and the compose command are resolved on first
use or by `connect()`, which the procedure runner calls before it journals anything."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from titan_deploy.errors import EngineUnreachable, TitanError
from titan_deploy.io import composerun
from titan_deploy.io import engine as engine_io
from titan_deploy.ops.rotate.effects import StackEffects
from titan_deploy.ops.rotate.session import Redactor
from titan_deploy.project import Project

UNREACHABLE = "tcp://127.0.0.1:9"  # the discard port: nothing listens there


def _vanished_project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    project = Project(project_dir=root)
    shutil.rmtree(root)  # the project dir is missing from here on
    return project


def test_constructing_effects_touches_neither_disk_nor_engine_nor_compose(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", UNREACHABLE)
    calls: list[str] = []
    real_connect, real_find = engine_io.connect, composerun.find_compose

    def connect(*args, **kwargs):
        calls.append("engine")
        return real_connect(*args, **kwargs)

    def find_compose(*args, **kwargs):
        calls.append("compose")
        return real_find(*args, **kwargs)

    monkeypatch.setattr(engine_io, "connect", connect)
    monkeypatch.setattr(composerun, "find_compose", find_compose)
    project = _vanished_project(tmp_path)

    effects = StackEffects(project, timeout=5, inputs={"x": b"value"})
    Redactor(project, [b"value"])

    assert calls == []
    assert not project.project_dir.exists()
    assert "manifest" not in vars(project)  # the manifest was not even read
    with pytest.raises(TitanError):  # the I/O happens when asked for, as one clear error
        effects.connect()


def test_connect_reports_an_unreachable_engine(tmp_path: Path, monkeypatch) -> None:
    """The engine is resolved by connect(): an unreachable DOCKER_HOST is EngineUnreachable."""
    monkeypatch.setenv("DOCKER_HOST", UNREACHABLE)
    root = tmp_path / "project"
    root.mkdir()
    effects = StackEffects(Project(project_dir=root))
    effects.manifest = object()  # type: ignore[assignment]  # past the manifest
    with pytest.raises(EngineUnreachable):
        effects.connect()


# --- nothing deployed is never a proof (a mistyped -p, a stack that is down) ---------------------


def _effects_on_an_empty_engine(project_dir: Path) -> StackEffects:
    from tests.fakes import FakeEngine

    effects = StackEffects(Project(project_dir=project_dir), timeout=1, log_timeout=1)
    effects.engine = FakeEngine()  # type: ignore[assignment]  # no container at all
    effects.name = "tdtest-not-deployed"
    return effects


def test_a_required_log_proof_with_no_container_fails(ready_project: Path) -> None:
    from titan_deploy.core.rotation import CheckLog
    from titan_deploy.ops.rotate.runner import StepFailed

    effects = _effects_on_an_empty_engine(ready_project)
    with pytest.raises(StepFailed, match="not deployed in project tdtest-not-deployed"):
        effects.check_log(CheckLog(service="titan-execution", pattern="connected"))
    optional = CheckLog(service="titan-execution", pattern="connected", required=False)
    assert "nothing to check" in effects.check_log(optional)


def test_verify_with_no_deployed_service_fails(ready_project: Path) -> None:
    from titan_deploy.core.rotation import Verify
    from titan_deploy.ops.rotate.runner import StepFailed

    effects = _effects_on_an_empty_engine(ready_project)
    with pytest.raises(StepFailed, match="nothing can prove the new version"):
        effects.verify(Verify(services=("titan-execution", "titan-sentinel")))


def test_verify_leaves_out_consumers_of_an_inactive_profile(ready_project: Path) -> None:
    """A consumer in a profile this run does not enable is skipped as verify skips it (a note:
    it starts on the new version), never `nothing deployed`; the active ones of the step are
    still proved, and none of them deployed still fails."""
    from titan_deploy.core.rotation import Verify
    from titan_deploy.ops.rotate.runner import StepFailed

    effects = _effects_on_an_empty_engine(ready_project)
    effects.inactive = {"titan-sentinel": ("extra",)}  # as select_active reports it
    note = effects.verify(Verify(services=("titan-sentinel",)))
    assert note.startswith("not active (profile extra): titan-sentinel")
    with pytest.raises(StepFailed, match="none of titan-execution is deployed"):
        effects.verify(Verify(services=("titan-execution", "titan-sentinel")))


class _NothingDeployedEffects:
    def verify(self, step):
        from titan_deploy.ops.rotate.runner import NothingDeployed

        raise NothingDeployed("none of titan-execution is deployed")


@pytest.mark.parametrize("mode", ["forward", "rollback"])
def test_nothing_deployed_fails_forward_and_is_a_note_in_a_rollback(mode: str) -> None:
    from titan_deploy.core.rotation import Active, Journal, Verify
    from titan_deploy.ops.rotate.runner import NothingDeployed, _dispatch

    step = Verify(services=("titan-execution",))
    active = Active(
        id="r1", procedure="db", secrets=("s",), steps=(step,), initial={}, started_at="t"
    )
    active.mode = mode
    journal = Journal(active=active)
    if mode == "forward":
        with pytest.raises(NothingDeployed):
            _dispatch(step, _NothingDeployedEffects(), journal)  # type: ignore[arg-type]
    else:
        note = _dispatch(step, _NothingDeployedEffects(), journal)  # type: ignore[arg-type]
        assert note.startswith("nothing to prove it on")


# --- a rotation's re-render is validated by Compose, as `render` is (issue 10 item 4) ------------


class _Rejecting:
    """A compose runner whose `config --quiet` of the merged files is refused."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def validate(self) -> None:
        from titan_deploy.io.composerun import ComposeRejected

        self.calls.append("validate")
        raise ComposeRejected("invalid", argv=["c"], returncode=15, stderr="")


def test_a_re_render_compose_rejects_fails_the_repoint_and_keeps_the_overlay(
    tmp_path: Path,
) -> None:
    from titan_deploy.core.rotation.steps import Repoint
    from titan_deploy.io.composerun import ComposeRejected

    (tmp_path / "secrets.manifest.yml").write_text(
        "version: 1\ncompose_files: [compose.yml]\nsecrets:\n"
        "  api_token: {kind: token, consumers: {app: API_TOKEN_FILE}}\n"
    )
    (tmp_path / "compose.yml").write_text("services: {app: {image: x}}\n")
    (tmp_path / "secrets").mkdir(mode=0o700)
    calls: list[str] = []
    project = Project(project_dir=tmp_path, project_name="tdfake-rerender")
    factory = lambda *_: _Rejecting(calls)  # noqa: E731
    effects = StackEffects(project, timeout=1, compose_for=factory)
    with pytest.raises(ComposeRejected, match="compose rejects the merged result"):
        effects.repoint(Repoint(changes=()), None)  # type: ignore[arg-type]
    assert calls == ["validate"]
    assert not (tmp_path / "docker-compose.secrets.yml").exists()  # not written


# --- polls: short, state only (issue 15) -----------------------------------------------------


def test_health_and_log_polls_wait_at_most_half_a_second(ready_project: Path, monkeypatch) -> None:
    """A verify step waiting for health and a log proof awaited both poll state every <= 0.5 s
    (they used to sleep 1 s, which added up to a second to every step); each still waits until
    every container is healthy, or logged the proof."""
    from tests.fakes import FakeContainer, FakeEngine
    from titan_deploy.core.rotation import CheckLog, Verify
    from titan_deploy.ops.rotate import effects as effects_mod
    from titan_deploy.ops.rotate import proofs
    from titan_deploy.ops.rotate.runner import StepFailed

    effects = _effects_on_an_empty_engine(ready_project)
    effects.timeout, effects.log_timeout = 60, 60
    engine = effects.engine
    assert isinstance(engine, FakeEngine)
    container = FakeContainer(effects.name, "titan-execution", health="starting")
    engine.add(container)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            container.health = "healthy"
        if len(sleeps) == 4:
            container.logs.append("Exchange connected (binance)")

    clock = SimpleNamespace(sleep=sleep, monotonic=time.monotonic)
    monkeypatch.setattr(effects_mod, "time", clock)  # the modules' own sleeps only
    monkeypatch.setattr(proofs, "time", clock)  # the log proof's (ops/rotate/proofs.await_log)
    with pytest.raises(StepFailed, match="verify failed"):  # healthy; the fake holds no files
        effects.verify(Verify(services=("titan-execution",)))
    assert len(sleeps) == 2  # waited until healthy, not longer
    said = effects.check_log(CheckLog(service="titan-execution", pattern="connected"))
    assert "seen after" in said and len(sleeps) == 4
    assert all(0 < s <= 0.5 for s in sleeps)
