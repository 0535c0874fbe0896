"""HMAC rotation on the real demo stack (issue 4): traffic, a control run, crash injection.

One demo stack for the whole session (fixture `rotation_demo`); the tests run in file order and
each leaves the stack consistent (no rotation in flight). Brain signs every 300 ms throughout;
the Traffic poller sums brain's rejected deliveries and the listeners' auth failures across
every container that ever ran.

Crash injection: the hidden hook TITAN_DEPLOY_CRASH_AFTER_STEP=N makes the tool SIGKILL itself
right after step N is journaled; TITAN_DEPLOY_CRASH_MID_WRITE=TEXT between the temp write and
the rename of a file whose name contains TEXT. After every crash, one run resumes (and then runs
phase 2, itself crashed and resumed) and another aborts; each time: zero auth failures, zero
rejections, consistent secret files, `verify` green.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path

import pytest

from tests.integration.rotation_kit import (
    Traffic,
    assert_consistent,
    assert_no_canary,
    container_logs,
    docker_client,
    journal,
    remember_values,
    run_td,
)
from tests.poll import wait_until

pytestmark = pytest.mark.docker

FAST = ["--stop-timeout", "1", "--settle", "1"]
CRASH = "TITAN_DEPLOY_CRASH_AFTER_STEP"
MID_WRITE = "TITAN_DEPLOY_CRASH_MID_WRITE"
H = "titan_hmac_secret"
SAMPLERS: list = []


def td(stack, *args, **kwargs):
    return run_td(stack, *args, sampler_sink=SAMPLERS, **kwargs)


def accepted_by_key(stack, service: str, port: int) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    client = docker_client()
    (container,) = client.containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={stack.name}",
                f"com.docker.compose.service={service}",
            ]
        }
    )
    _, out = container.exec_run(["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics"])
    found = {}
    for family in text_string_to_metric_families(out.decode()):
        for sample in family.samples:
            if sample.name == "messages_accepted_by_key_total":
                found[sample.labels["key"]] = sample.value
    return found


def plan_length(stack, *args: str) -> int:
    dry = td(stack, "--json", "rotate", "hmac", *args, "--dry-run")
    assert dry.returncode == 0, dry.output
    return json.loads(dry.stdout)["data"]["steps"]


def snapshot_files(stack) -> dict[str, bytes]:
    files = sorted((stack.root / "secrets").iterdir())
    return {p.name: p.read_bytes() for p in files if p.is_file()}  # not .live/ (live reloads)


def test_phase1_and_phase2_while_brain_signs_without_a_single_rejection(rotation_demo):
    s = rotation_demo
    remember_values(s)
    dry = td(s, "rotate", "hmac", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert "write titan_hmac_secret.v1" in dry.stdout and "signers back first" in dry.stdout
    with Traffic(s.name) as traffic:
        traffic.flows()
        signed_before = traffic.signed
        runs: list = []
        running = threading.Thread(
            target=lambda: runs.append(td(s, "--json", "rotate", "hmac", *FAST))
        )
        running.start()
        holder = s.root / ".titan-deploy" / "rotation.lock" / "holder.json"
        wait_until(holder.exists, "the rotation takes the lock", timeout=30)
        pid = json.loads(holder.read_text())["pid"]
        second = td(s, "rotate", "db")  # one rotation at a time: exit 3 naming the holder
        running.join()
        assert second.returncode == 3 and f"pid {pid}" in second.output, second.output
        (phase1,) = runs
        assert phase1.returncode == 0, phase1.output
        doc = json.loads(phase1.stdout)
        assert doc["data"]["outcome"] == "completed" and doc["data"]["auth_failures"] == 0
        key_id = doc["data"]["key_id"]
        assert key_id.startswith("k2-")
        traffic.flows()
        signed_phase1 = traffic.signed
        # the listeners accepted brain's OLD key as `previous` while brain was not yet switched
        assert accepted_by_key(s, "titan-execution", 3002).get("secondary", 0) > 0
        status = td(s, "--json", "rotate", "status")
        pending = json.loads(status.stdout)["data"]["pending"][H]
        assert pending["phase2_allowed_now"] is False and pending["key_id"] == key_id
        refused = td(s, "rotate", "hmac", "--finish")
        assert refused.returncode == 1 and "refused until" in refused.output
        remember_values(s)
        phase2 = td(s, "--json", "rotate", "hmac", "--finish", "--force", *FAST)
        assert phase2.returncode == 0, phase2.output
        assert json.loads(phase2.stdout)["data"]["auth_failures"] == 0
        traffic.flows()
    assert traffic.rejected == 0, f"brain saw {traffic.rejected} rejected deliveries"
    assert traffic.auth_failures == 0, f"listeners counted {traffic.auth_failures} failures"
    assert signed_phase1 > signed_before + 10, "brain's traffic did not flow during phase 1"
    assert traffic.signed > signed_phase1 + 10, "brain's traffic did not flow during phase 2"
    assert traffic.accepted > 0
    doc = assert_consistent(s)
    assert doc["assignments"][H]["titan-sentinel"] == {
        "version": 2,
        "secondary": None,
        "key_id": key_id,
    }
    files = sorted(p.name for p in (s.root / "secrets").iterdir() if p.name.startswith(H))
    assert files == [H, f"{H}.v2"]  # the pinned v1 is gone; the base file holds v2's value
    assert (s.root / "secrets" / H).read_bytes() == (s.root / "secrets" / f"{H}.v2").read_bytes()


def test_control_signers_first_is_seen_as_rejections(rotation_demo):
    """What the procedure prevents, done by hand: brain switched to a key the listeners do not
    know. The same Traffic poller must see it — the tests can see failure."""
    from titan_deploy.core.overlay import Assignment
    from titan_deploy.io import journal as journal_io
    from titan_deploy.project import Project

    s = rotation_demo
    project = Project(project_dir=s.root, compose_file_options=s.files, project_name=s.name)
    rogue = s.root / "secrets" / f"{H}.v900"
    rogue.write_bytes(secrets.token_hex(32).encode())
    os.chown(rogue, -1, 10500)
    os.chmod(rogue, 0o640)
    s.values["control"] = rogue.read_bytes()
    state = journal_io.load(project)
    before = state.assignments[H]["titan-brain"]
    try:
        state.assignments[H]["titan-brain"] = Assignment(900, None, "k900-control")
        journal_io.save(project, state)
        assert td(s, "render").returncode == 0
        with Traffic(s.name) as traffic:
            up = s.compose("up", "-d", "--no-deps", "--wait", "--timeout", "1", "titan-brain")
            assert up.returncode == 0, up.stderr
            wait_until(
                lambda: traffic.rejected > 0 and traffic.auth_failures > 0,
                "the listeners reject brain's unknown key",
            )
        assert traffic.rejected > 0, "the control run must show rejected messages"
        assert traffic.auth_failures > 0
    finally:
        state = journal_io.load(project)
        state.assignments[H]["titan-brain"] = before
        journal_io.save(project, state)
        # the tool's own `up` (render, compose up --wait, verify): a bare compose up whose exit
        # was not checked once left brain on the rogue key under load, failing verify below
        restored = td(s, "up")
        assert restored.returncode == 0, restored.output[-3000:]
        rogue.unlink()
    assert_consistent(s)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_crash_after_step_then_resume_then_phase2_crashed_and_resumed(rotation_demo, k):
    s = rotation_demo
    if k == 1:
        assert plan_length(s) == 5  # write, listeners, verify, brain, verify (no pin after v2)
    remember_values(s)
    with Traffic(s.name) as traffic:
        crashed = td(s, "rotate", "hmac", *FAST, env={CRASH: str(k)})
        assert crashed.returncode == -9, crashed.output
        status = td(s, "--json", "rotate", "status")
        doc = json.loads(status.stdout)
        assert doc["data"]["active"]["done"] == k
        assert doc["data"]["lock"]["alive"] is False  # the SIGKILLed holder left a stale lock
        if k == 1:
            refused = td(s, "rotate", "db")
            assert refused.returncode == 3 and "stale rotation lock" in refused.output
        resumed = td(s, "--json", "rotate", "resume", *FAST)
        assert resumed.returncode == 0, resumed.output
        data = json.loads(resumed.stdout)["data"]
        assert data["outcome"] == "completed" and data["broke_stale_lock_of_pid"]
        assert_consistent(s)
        remember_values(s)
        k2 = (k - 1) % 4 + 1  # phase 2 has 4 steps: listeners, verify, sync base, remove old
        crashed = td(s, "rotate", "hmac", "--finish", "--force", *FAST, env={CRASH: str(k2)})
        assert crashed.returncode == -9, crashed.output
        resumed = td(s, "rotate", "resume", *FAST)
        assert resumed.returncode == 0, resumed.output
    assert traffic.rejected == 0 and traffic.auth_failures == 0
    assert_consistent(s)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_crash_after_step_then_abort_restores(rotation_demo, k):
    s = rotation_demo
    remember_values(s)
    before_files = snapshot_files(s)
    before = journal(s)["assignments"]
    with Traffic(s.name) as traffic:
        crashed = td(s, "rotate", "hmac", *FAST, env={CRASH: str(k)})
        assert crashed.returncode == -9, crashed.output
        remember_values(s)
        aborted = td(s, "--json", "rotate", "abort", *FAST)
        assert aborted.returncode == 0, aborted.output
        assert json.loads(aborted.stdout)["data"]["outcome"] == "rolled back"
    assert traffic.rejected == 0 and traffic.auth_failures == 0
    doc = assert_consistent(s)
    assert doc["assignments"] == before
    assert snapshot_files(s) == before_files
    assert doc["history"][-1]["outcome"] == "rolled back"


def test_crash_mid_write_of_the_new_key_then_resume_and_then_abort(rotation_demo):
    s = rotation_demo
    remember_values(s)
    before_files = snapshot_files(s)
    before = journal(s)["assignments"]
    with Traffic(s.name) as traffic:
        crashed = td(s, "rotate", "hmac", *FAST, env={MID_WRITE: f"{H}.v"})
        assert crashed.returncode == -9
        temps = [p.name for p in (s.root / "secrets").iterdir() if ".tmp-" in p.name]
        assert len(temps) == 1 and temps[0].startswith(f".{H}.v"), temps  # killed mid-write
        s.values["torn"] = (s.root / "secrets" / temps[0]).read_bytes()
        resumed = td(s, "--json", "rotate", "resume", *FAST)
        assert resumed.returncode == 0, resumed.output
        assert temps[0] in json.loads(resumed.stdout)["data"]["removed_temp_files"]
        assert_consistent(s)
        remember_values(s)
        finished = td(s, "rotate", "hmac", "--finish", "--force", *FAST)
        assert finished.returncode == 0, finished.output
        assert_consistent(s)
        # the same crash, then abort
        before_files = snapshot_files(s)
        before = journal(s)["assignments"]
        crashed = td(s, "rotate", "hmac", *FAST, env={MID_WRITE: f"{H}.v"})
        assert crashed.returncode == -9
        aborted = td(s, "rotate", "abort", *FAST)
        assert aborted.returncode == 0, aborted.output
    assert traffic.rejected == 0 and traffic.auth_failures == 0
    doc = assert_consistent(s)
    assert doc["assignments"] == before and snapshot_files(s) == before_files


def _compose_child(pid: int) -> bool:
    """Is a `docker compose ... up` process among pid's descendants?"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if b" up " in cmd and b"compose" in cmd:
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                return True
    return False


@pytest.mark.parametrize("then", ["resume", "abort"])
def test_killed_with_its_compose_child_in_the_middle_of_a_recreate(rotation_demo, then):
    """kill -9 of the tool AND its compose child (the whole process group, as a closed terminal
    would) while the listeners are being recreated: resume finishes, abort undoes."""
    import signal
    import subprocess

    s = rotation_demo
    remember_values(s)
    before_files = snapshot_files(s)
    before = _in_use(journal(s))  # runs alone too: no journal before the first rotation
    client = docker_client()
    label = {"label": f"com.docker.compose.project={s.name}"}
    # sparse: the list call alone (no inspect per container, which races a removal)
    states = {c.id: c.status for c in client.containers.list(all=True, sparse=True, filters=label)}

    def recreating() -> bool:
        now = client.containers.list(all=True, sparse=True, filters=label)
        return any(states.get(c.id) != c.status for c in now) or len(now) != len(states)

    with Traffic(s.name) as traffic:
        proc = subprocess.Popen(
            [*s.td_argv(), "rotate", "hmac", *FAST],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(
            lambda: _compose_child(proc.pid) or proc.poll() is not None, "a compose child runs"
        )
        assert proc.poll() is None, "the rotation ended before any recreate was seen"
        wait_until(recreating, "compose stops or creates a container")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        status = json.loads(td(s, "--json", "rotate", "status").stdout)["data"]["active"]
        assert status["in_progress"] == status["done"]  # killed inside a step
        done = td(s, "--json", "rotate", then, *FAST)
        assert done.returncode == 0, done.output
        remember_values(s)
        if then == "resume":
            finished = td(s, "rotate", "hmac", "--finish", "--force", *FAST)
            assert finished.returncode == 0, finished.output
    assert traffic.rejected == 0 and traffic.auth_failures == 0
    doc = assert_consistent(s)
    if then == "abort":
        assert _in_use(doc) == before and snapshot_files(s) == before_files


def test_killed_then_a_listener_dropped_from_the_manifest_resume_names_it_abort_recovers(
    rotation_demo,
):
    """Issue 9.5's example: kill `rotate hmac` once the listeners accept both keys, drop a
    listener from the manifest, `rotate resume`: refused with the change named (exit 2), nothing
    recreated; `rotate abort` undoes it from the journal — the dropped listener included, never
    without its key — and no message is rejected at any moment."""
    s = rotation_demo
    status = json.loads(td(s, "--json", "rotate", "status").stdout)["data"]
    if status["pending"]:
        finished = td(s, "rotate", "hmac", "--finish", "--force", *FAST)
        assert finished.returncode == 0, finished.output
    remember_values(s)
    before_files = snapshot_files(s)
    before = _in_use(journal(s))
    dry = json.loads(td(s, "--json", "rotate", "hmac", "--dry-run").stdout)
    listeners = next(r["n"] for r in dry["rows"] if r["action"] == "repoint")
    manifest = s.root / "secrets.manifest.yml"
    original = manifest.read_text()
    line = "      titan-sentinel: {env: TITAN_HMAC_SECRET_PRIMARY_FILE, role: listener}\n"
    assert line in original
    client = docker_client()

    def sentinel():
        (container,) = client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={s.name}",
                    "com.docker.compose.service=titan-sentinel",
                ]
            }
        )
        return container

    try:
        with Traffic(s.name) as traffic:
            crashed = td(s, "rotate", "hmac", *FAST, env={CRASH: str(listeners)})
            assert crashed.returncode == -9, crashed.output
            remember_values(s)
            recreated = sentinel().id
            manifest.write_text(original.replace(line, ""))
            named = "titan_hmac_secret: consumer titan-sentinel was removed"
            resumed = td(s, "--json", "rotate", "resume", *FAST)
            assert resumed.returncode == 2, resumed.output
            error = json.loads(resumed.stdout)["error"]
            assert named in error and "`titan-deploy rotate abort`" in error
            assert sentinel().id == recreated  # refused: nothing was recreated
            status = json.loads(td(s, "--json", "rotate", "status").stdout)
            assert status["data"]["active"] is not None
            assert any(named in f["message"] for f in status["findings"])
            again = td(s, "rotate", "hmac", *FAST)
            assert again.returncode == 1 and "rotate abort" in again.output
            aborted = td(s, "--json", "rotate", "abort", *FAST)
            assert aborted.returncode == 0, aborted.output
            data = json.loads(aborted.stdout)["data"]
            assert data["outcome"] == "rolled back" and named in data["manifest_changes"][0]
            container = sentinel()
            container.reload()
            assert container.attrs["State"]["Health"]["Status"] == "healthy"
            assert container.attrs["RestartCount"] == 0
            env = container.attrs["Config"]["Env"]
            assert any(e.startswith("TITAN_HMAC_SECRET_PRIMARY_FILE=") for e in env)
            status = td(s, "rotate", "status")
            assert "no rotation in flight" in status.stdout
            traffic.flows()
        assert traffic.rejected == 0 and traffic.auth_failures == 0
    finally:
        manifest.write_text(original)
    doc = assert_consistent(s)
    assert _in_use(doc) == before and snapshot_files(s) == before_files
    assert td(s, "render", "--check").returncode == 0


def _in_use(doc: dict) -> dict:
    """The journal's assignments, a consumer on the base file counted as absent."""
    base = {"version": None, "secondary": None, "key_id": None}
    return {
        (secret, service): a
        for secret, services in (doc.get("assignments") or {}).items()
        for service, a in services.items()
        if a != base
    }


def test_no_secret_in_any_output_argv_env_or_log(rotation_demo):
    s = rotation_demo
    remember_values(s)
    assert len(s.values) > 10
    samples = sum(x.samples for x in SAMPLERS)
    assert samples > 100, "the /proc sampler did not run"
    cmdlines = [c for x in SAMPLERS for c in x.cmdlines]
    environs = [e for x in SAMPLERS for e in x.environs]
    assert any("docker" in c and "compose" in c for c in cmdlines)  # it saw the tool's children
    assert any("wget" in c for c in cmdlines)  # ... and the metrics scrapes inside containers
    journal_text = (s.root / ".titan-deploy" / "state.json").read_text()
    assert_no_canary(s, [*s.outputs, *cmdlines, *environs, journal_text])
    assert_no_canary(s, [container_logs(s.name)])
