"""`up`, `verify`, `status` and `audit-logs` against the fake engine and compose (tests/fakes.py):
the ops take their engine (ops/stack.Backends), so their logic runs here without Docker. The
real engine's behaviour is covered by tests/integration (test_verify_engine, test_up_stages,
test_engine_stack, test_audit)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.fakes import FakeCompose, FakeContainer, FakeEngine, FakeFile, backends
from titan_deploy.ops.audit import run_audit
from titan_deploy.ops.render import run_render
from titan_deploy.ops.status import run_down, run_status
from titan_deploy.ops.up import run_up
from titan_deploy.ops.verify import run_verify
from titan_deploy.project import Project

NAME = "tdfake"
DB = "titan_db_password"


@pytest.fixture
def project(ready_project: Path) -> Project:
    return Project(project_dir=ready_project, project_name=NAME)


def deployed(project: Project, after_up=lambda _: None) -> tuple[FakeEngine, FakeCompose]:
    """Render the overlay and `up` the fake stack (no verify): the state verify then reads."""
    engine = FakeEngine()
    compose = FakeCompose(engine, project, after_up=after_up)
    run_render(project)
    compose.up(60)
    return engine, compose


def rows(report) -> dict[tuple[str, str], dict]:
    return {(r["service"], r["secret"]): r for r in report.rows}


def test_up_on_the_fake_stack_ends_verified(project: Project) -> None:
    engine = FakeEngine()
    compose = FakeCompose(engine, project)
    progress: list[str] = []
    report = run_up(project, backends(engine, compose), timeout=5, progress=progress.append)
    assert report.ok, [f.message for f in report.errors]
    assert compose.calls == ["config", "validate", "up"]  # lint (the overlay is unchanged), up
    assert [s["stage"] for s in report.data["stages"]] == [
        "check-secrets",
        "render",
        "lint",
        "compose up",
        "verify",
    ]
    assert report.data["pairs"] == report.data["verified"] > 0
    assert report.data["project"] == NAME
    assert {r["method"] for r in report.rows} == {"archive+ctime+config-user"}  # no processes


def test_up_stops_at_verify_when_a_container_lacks_a_mount(project: Project) -> None:
    def drop(engine: FakeEngine) -> None:
        engine.container("titan-brain").files.pop(f"/run/secrets/{DB}")

    engine = FakeEngine()
    report = run_up(project, backends(engine, FakeCompose(engine, project, after_up=drop)))
    assert not report.ok
    assert report.summary.startswith("up stopped at verify")
    row = rows(report)[("titan-brain", DB)]
    assert row["mounted"] is False
    assert "is not mounted" in row["problem"]
    assert [f.code for f in report.errors] == ["V001"]
    assert {f.stage for f in report.errors} == {"verify"}


def stale_after_up(*services_secrets: tuple[str, str]):
    """An `after_up` hook: these containers still hold an old value (compose recreated nothing
    after the file was edited)."""

    def hook(engine: FakeEngine) -> None:
        for service, secret in services_secrets:
            path = f"/run/secrets/{secret}"
            engine.container(service).files[path] = FakeFile(b"the-old-value-it-read-at-start-0")

    return hook


def test_up_recreates_the_consumers_of_an_edited_restart_secret(project: Project) -> None:
    engine = FakeEngine()
    stale = stale_after_up(("grafana", "grafana_admin_password"))
    compose = FakeCompose(engine, project, after_up=stale)
    progress: list[str] = []
    report = run_up(project, backends(engine, compose), timeout=5, progress=progress.append)
    assert report.ok, [f.message for f in report.errors]
    assert compose.calls == ["config", "validate", "up", "recreate grafana"]
    assert report.data["recreated"] == {"grafana": ["grafana_admin_password"]}
    assert [s["stage"] for s in report.data["stages"]][-3:] == ["verify", "recreate", "verify"]
    assert report.data["stages"][-3]["errors"] == 1 and report.data["stages"][-1]["ok"]
    assert "recreated grafana (grafana_admin_password)" in report.summary
    assert any(line.startswith("recreate grafana") for line in progress)


@pytest.mark.parametrize(
    ("service", "secret", "command"),
    [
        ("titan-brain", "titan_hmac_secret", "rotate hmac"),
        ("titan-brain", DB, "rotate db"),
        ("titan-execution", "binance_api_key", "rotate exchange binance"),
    ],
)
def test_up_never_recreates_for_an_edited_hmac_rolling_or_exchange_secret(
    project: Project, service: str, secret: str, command: str
) -> None:
    engine = FakeEngine()
    compose = FakeCompose(engine, project, after_up=stale_after_up((service, secret)))
    report = run_up(project, backends(engine, compose), timeout=5)
    assert not report.ok
    assert compose.calls == ["config", "validate", "up"]  # nothing recreated
    assert "recreated" not in report.data
    (finding,) = report.errors
    assert (finding.code, finding.service, finding.secret) == ("V002", service, secret)
    assert f"`titan-deploy {command}" in (finding.fix or "")


def test_verify_names_a_leaked_env_var_without_its_value(project: Project) -> None:
    value = (project.secrets_dir / DB).read_bytes().strip().decode()
    engine, _ = deployed(project)
    engine.container("titan-brain").env["DB_PASSWORD"] = value
    report = run_verify(project, backends(engine))
    assert not report.ok
    assert rows(report)[("titan-brain", DB)]["no_leak"] is False
    assert {f.code for f in report.errors} == {"V006"}
    assert value not in json.dumps(report.to_dict())


def test_verify_names_a_file_whose_content_differs(project: Project) -> None:
    engine, _ = deployed(project)
    path = f"/run/secrets/{DB}"
    engine.container("postgres").files[path] = FakeFile(b"another-value-entirely-000")
    report = run_verify(project, backends(engine))
    row = rows(report)[("postgres", DB)]
    assert (row["mounted"], row["content"]) == (True, False)
    assert "differs from the host file" in row["problem"]
    assert not rows(report)[("titan-brain", DB)]["problem"]


def test_verify_and_status_name_a_stopped_container(project: Project) -> None:
    engine, _ = deployed(project)
    stopped = engine.container("titan-sentinel")
    stopped.status, stopped.exit_code = "exited", 1
    report = run_verify(project, backends(engine))
    assert {f.code for f in report.errors} == {"V005"}
    assert all("is exited" in f.message for f in report.errors)
    status = run_status(project, backends(engine))
    by_service = {r["service"]: r for r in status.rows}
    assert by_service["titan-sentinel"]["state"] == "exited"
    assert by_service["titan-sentinel"]["secrets"].startswith("0/")
    assert (
        by_service["titan-brain"]["secrets"] == "5/5 verified"
    )  # db, hmac, nats user + password, redis
    running = status.data["running"]
    assert status.summary.startswith(
        f"project {NAME}: {running}/{status.data['containers']} containers running; oldest secret: "
    )


def test_verify_with_no_containers_names_every_pair(project: Project) -> None:
    run_render(project)
    report = run_verify(project, backends(FakeEngine()))
    assert not report.ok
    assert report.data["verified"] == 0


def test_audit_finds_a_base64_leak_in_logs_and_config(project: Project) -> None:
    value = (project.secrets_dir / DB).read_bytes().strip()
    engine, _ = deployed(project)
    brain = engine.container("titan-brain")
    brain.logs += ["starting", f"auth header {base64.b64encode(value).decode()}", "[MASKED]"]
    brain.labels["debug"] = value.decode()
    report = run_audit(project, backends(engine))
    assert not report.ok
    hits = {(h["service"], h["source"], h["encoding"]) for h in report.data["hits"]}
    assert ("titan-brain", "logs", "base64@0") in hits
    assert ("titan-brain", "inspect", "raw") in hits
    assert report.data["masked_lines"]["titan-brain"] == 1
    assert value.decode() not in json.dumps(report.to_dict())


def test_audit_of_a_clean_stack_is_ok_and_scans_every_container(project: Project) -> None:
    engine, _ = deployed(project)
    report = run_audit(project, backends(engine))
    assert report.ok, [f.message for f in report.errors]
    assert {r["source"] for r in report.rows} >= {"logs", "inspect", "image"}


def test_audit_of_a_file_needs_no_engine(project: Project, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("nothing here\n")

    def no_engine():
        raise AssertionError("audit --file must not connect")

    from titan_deploy.ops.stack import Backends

    report = run_audit(project, Backends(engine=no_engine, compose=None), files=[log])  # type: ignore[arg-type]
    assert report.ok


def test_down_removes_the_project_containers(project: Project) -> None:
    engine, compose = deployed(project)
    other = engine.add(FakeContainer("another", "web"))
    run_down(project, backends(engine, compose))
    assert engine.items == [other]


def test_a_failed_compose_up_names_the_failing_containers(project: Project) -> None:
    from titan_deploy.errors import ComposeError

    def crash(engine: FakeEngine) -> None:
        brain = engine.container("titan-brain")
        brain.status, brain.restarting, brain.exit_code = "restarting", True, 2
        engine.container("postgres").health = "unhealthy"

    engine = FakeEngine()
    compose = FakeCompose(engine, project, after_up=crash, fail_up="docker compose up failed")
    progress: list[str] = []
    with pytest.raises(ComposeError) as caught:
        run_up(project, backends(engine, compose), progress=progress.append)
    assert caught.value.message == (
        "docker compose up failed; failing: postgres (unhealthy, exit 0), "
        "titan-brain (restarting, exit 2)"
    )
    assert "  titan-brain: restarting" in progress  # the watcher's one label per state
