"""`--swarm rotate hmac|db|exchange` with the demo stack on a single-node swarm (README "Several
hosts", issue 13 item 5): the lab's manager dockerd in its own network namespace
(tests/netnsdocker.py), the demo images loaded from the main engine, which is never touched.

ONE demo stack for the module (demo files + demo/docker-compose.swarm.yml + the rotation tests'
1 s healthchecks), deployed with `--swarm up`; each test leaves it consistent (no rotation in
flight, verify green). DOCKER_HOST names the manager for the module, so the tool, the docker SDK
and the rotation helpers (tests/integration/rotation_kit.py) all talk to it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.integration.demo import make_demo
from tests.integration.rotation_kit import (
    RotationStack,
    assert_consistent,
    assert_no_canary,
    docker_client,
    journal,
    make_rotation_stack,
    psql_login,
    remember_values,
    run_td,
    scrape,
)
from tests.integration.swarmkit import our_secrets, remove_stack
from tests.netnsdocker import NsEngine
from tests.poll import wait_until

pytestmark = pytest.mark.docker

DEMO_IMAGES = (
    "titan-demo/postgres:latest",
    "titan-demo/base:bookworm",
    "titan-demo/standin:latest",
)
SWARM_FILE = "demo/docker-compose.swarm.yml"
FAST = ["--stop-timeout", "1", "--settle", "1"]
DB = "titan_db_password"
LISTENERS = {"titan-execution": 3002, "titan-sentinel": 8084}
EXCHANGE_CONSUMERS = {
    "titan-execution": 3002,
    "titan-sentinel": 8084,
    "titan-scavenger": 8081,
    "titan-ai-quant": 8082,
}


class SwarmDemo(RotationStack):
    """The rotation demo stack whose every tool call is `--swarm` with the swarm demo file."""

    def td_argv(self) -> list[str]:
        return [*super().td_argv(), "-f", SWARM_FILE, "--swarm"]


@pytest.fixture(scope="module")
def swarm_demo(netns_lab, swarm_manager, demo_images, tmp_path_factory):
    netns_lab.load(swarm_manager, *DEMO_IMAGES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", swarm_manager.host)
        base = make_rotation_stack(make_demo(tmp_path_factory.mktemp("swarm-demo")))
        demo = SwarmDemo(root=base.root, name=base.name, image=base.image, values=base.values)
        try:
            up = run_td(demo, "--json", "up", "--timeout", "300")
            assert up.returncode == 0, up.output[-3000:]
            yield demo
            down = run_td(demo, "down")
            assert down.returncode == 0, down.output
            assert our_secrets(swarm_manager, demo.name) == {}
        finally:
            remove_stack(swarm_manager, demo.name)
    remember_values(demo)
    assert_no_canary(demo, demo.outputs)


def task_container(demo: SwarmDemo, service: str):
    """The running container of the service's (single) task, through the docker SDK."""
    label = f"com.docker.swarm.service.name={demo.name}_{service}"
    found = docker_client().containers.list(filters={"label": label, "status": "running"})
    assert len(found) == 1, f"{service}: {len(found)} running task containers"
    return found[0]


def metric(demo: SwarmDemo, service: str, port: int, name: str) -> float | None:
    values = scrape(task_container(demo, service), f"http://127.0.0.1:{port}/metrics")
    return values.get(name) if values else None


def rotate_hmac_listeners_first(demo) -> None:
    """`rotate hmac` completes with no auth failure, the listeners repointed before brain."""
    rotate = run_td(demo, "--json", "rotate", "hmac", *FAST)
    assert rotate.returncode == 0, rotate.output[-3000:]
    doc = json.loads(rotate.stdout)
    assert doc["data"]["outcome"] == "completed" and doc["data"]["auth_failures"] == 0
    steps = [line for line in rotate.stderr.splitlines() if "] repoint " in line]
    assert "titan-execution, titan-sentinel" in steps[0] and "titan-brain" in steps[1]


def test_rotate_hmac_on_swarm_listeners_first_nothing_rejected(swarm_demo):
    """Listeners get the new key beside the old one, converge and verify before the signer
    changes (auth guard at 0, watched every step), journaled; no listener counted an
    authentication failure; verify proves both keys on the listeners."""
    demo = swarm_demo
    rotate_hmac_listeners_first(demo)
    status = run_td(demo, "--json", "rotate", "status")
    assert "titan_hmac_secret" in json.loads(status.stdout)["data"]["pending"]
    for service, port in LISTENERS.items():
        assert metric(demo, service, port, "auth_failures") == 0.0
    verify = run_td(demo, "--json", "verify")
    assert verify.returncode == 0, verify.output[-3000:]
    pairs = {(r["service"], r["secret"]) for r in json.loads(verify.stdout)["rows"]}
    assert ("titan-execution", "titan_hmac_secret.previous") in pairs
    remember_values(demo)
    assert_consistent(demo)


def db_file(demo: SwarmDemo) -> bytes:
    """The value brain is assigned now (journal), read from its file."""
    a = (journal(demo).get("assignments") or {}).get(DB, {}).get("titan-brain") or {}
    version = a.get("version")
    name = DB if version is None else f"{DB}.v{version}"
    return (demo.root / "secrets" / name).read_bytes().strip()


def brain(demo: SwarmDemo):
    from titan_deploy.io.engine import connect
    from titan_deploy.io.swarm import SwarmEngine

    engine = SwarmEngine(connect().client)
    (info,) = [c for c in engine.containers(demo.name, "titan-brain") if c.status == "running"]
    return engine, info


def test_rotate_db_on_swarm_the_new_password_works_and_the_old_is_refused(swarm_demo):
    """ALTER ROLE on the manager's postgres task, then a rolling update of every consumer: a new
    connection from brain's task logs in with the new password and is refused with the old."""
    demo = swarm_demo
    remember_values(demo)
    old = db_file(demo)
    result = run_td(demo, "--json", "rotate", "db", *FAST)
    assert result.returncode == 0, result.output[-3000:]
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "completed"
    assert [r["action"] for r in doc["rows"]][:3] == ["write-version", "provision", "repoint"]
    remember_values(demo)
    new = db_file(demo)
    assert new != old
    wait_until(lambda: brain(demo)[1].health == "healthy", "brain healthy", 120, 0.5)
    engine, info = brain(demo)
    assert psql_login(engine, info.id, new) == "OK"
    assert psql_login(engine, info.id, old) == "REFUSED"
    assert_consistent(demo)


def exchange_connected(demo: SwarmDemo, exchange: str) -> dict[str, float]:
    """exchange_connected{exchange=...} of every consumer's task."""
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for service, port in EXCHANGE_CONSUMERS.items():
        container = task_container(demo, service)
        _, out = container.exec_run(["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics"])
        for family in text_string_to_metric_families(out.decode()):
            for sample in family.samples:
                if sample.name == "exchange_connected" and sample.labels["exchange"] == exchange:
                    found[service] = sample.value
    return found


def test_rotate_exchange_on_swarm_registered_pair_is_proven_unregistered_rolled_back(
    swarm_demo, tmp_path
):
    """A registered pair: `Exchange connected` in every consumer's task logs after its update,
    completed. An unregistered pair: the proof fails, every consumer is rolled back to the old
    keys from the journal (a stack deploy of the previous assignments) and reconnects; exit 1."""
    from tests.integration.test_rotation_exchange import new_pair

    demo = swarm_demo
    remember_values(demo)
    key, secret, files = new_pair(demo, tmp_path, "binance", register=True)
    argv = ["rotate", "exchange", "binance", "--from-file", files[0], "--from-file", files[1]]
    result = run_td(demo, "--json", *argv, "--log-timeout", "60", *FAST)
    assert result.returncode == 0, result.output[-3000:]
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "completed"
    proofs = [r for r in doc["rows"] if r["action"] == "check-log"]
    assert len(proofs) == 4 and all(r["status"] == "done" for r in proofs)
    assert (demo.root / "secrets" / "binance_api_key").read_bytes() == key
    assert (demo.root / "secrets" / "binance_api_secret").read_bytes() == secret
    wait_until(
        lambda: exchange_connected(demo, "binance") == dict.fromkeys(EXCHANGE_CONSUMERS, 1.0),
        "every consumer connected with the new pair",
        timeout=60,
        interval=1,
    )
    assert_consistent(demo)

    before = journal(demo)["assignments"]
    _, _, files = new_pair(demo, tmp_path, "binance", register=False)
    argv = ["rotate", "exchange", "binance", "--from-file", files[0], "--from-file", files[1]]
    result = run_td(demo, "--json", *argv, "--log-timeout", "15", *FAST)
    assert result.returncode == 1, result.output[-3000:]
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    rollback = [r for r in doc["rows"] if r["phase"] == "rollback"]
    assert [r["action"] for r in rollback][:2] == ["repoint", "verify"]
    assert assert_consistent(demo)["assignments"] == before
    assert (demo.root / "secrets" / "binance_api_key").read_bytes() == key
    wait_until(
        lambda: exchange_connected(demo, "binance") == dict.fromkeys(EXCHANGE_CONSUMERS, 1.0),
        "every consumer reconnected with the old pair",
        timeout=60,
        interval=1,
    )


# --- two nodes: the last test of the module (it leaves the stack on the manager alone) ---------

PLACEMENT = "docker-compose.nodes.yml"
ON_WORKER = "titan-sentinel"  # a listener (auth guard endpoint) on the worker
HMAC = "titan_hmac_secret"


@dataclass
class TwoNodeDemo(SwarmDemo):
    """The swarm demo with PLACEMENT: every service on the manager but ON_WORKER; the tool runs
    in the manager's network namespace (as on a manager host), so it reaches the worker's engine
    over the lab's veth at its tcp:// endpoint."""

    manager: NsEngine | None = None

    def td_argv(self) -> list[str]:
        argv = [*super().td_argv(), "-f", PLACEMENT]
        return self.manager.in_netns(argv) if self.manager is not None else argv


def place(demo: SwarmDemo, worker_services: tuple[str, ...]) -> None:
    """PLACEMENT: `worker_services` on the worker, every other service on the manager."""
    import yaml

    names = yaml.safe_load((demo.root / SWARM_FILE).read_text())["services"]
    role = {name: "worker" if name in worker_services else "manager" for name in names}
    doc = {
        "services": {
            name: {"deploy": {"placement": {"constraints": [f"node.role == {r}"]}}}
            for name, r in role.items()
        }
    }
    (demo.root / PLACEMENT).write_text(yaml.safe_dump(doc))


def listener_counters(node, demo: SwarmDemo) -> dict[str, float]:
    """The ON_WORKER listener's counters on `node` (its one running task container)."""
    import docker

    client = docker.DockerClient(base_url=node.host, timeout=60)
    label = f"com.docker.swarm.service.name={demo.name}_{ON_WORKER}"
    (container,) = client.containers.list(filters={"label": label, "status": "running"})
    return scrape(container, f"http://127.0.0.1:{LISTENERS[ON_WORKER]}/metrics")


def test_rotate_hmac_on_two_nodes_reaches_the_workers_task_and_fails_when_it_cannot(
    swarm_demo, netns_lab, swarm_manager
):
    """A listener on the worker, the rest on the manager (deploy.nodes maps the worker to its
    engine's tcp:// endpoint on the veth, as a remote node is reached): `rotate hmac` converges,
    health-waits, guards and verifies the worker's task through the worker's engine: completed,
    no listener on either node counted a rejected message, and the worker's listener accepts the
    new key's messages; verify proves the worker's task as a remote engine's (never /proc; the
    archive API cannot see a Swarm secret, so by the object each task mounts) and the manager's
    through /proc. Then the worker's engine stops
    answering in the middle of phase 2 (its TCP port refuses; the node stays Ready): the next step
    that reads the stack fails naming the worker and the rotation rolls back; with the engine
    back, the stack is consistent (verify green on both nodes; phase 1 still pending)."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.swarmkit import joined, map_nodes, task_containers

    worker = netns_lab.engine("b")
    netns_lab.load(worker, "titan-demo/standin:latest")
    base = swarm_demo
    demo = TwoNodeDemo(
        root=base.root, name=base.name, image=base.image, values=base.values, manager=swarm_manager
    )
    with joined(swarm_manager, worker):
        try:
            map_nodes(demo.root, {worker.name: worker.tcp})
            place(demo, (ON_WORKER,))
            up = run_td(demo, "--json", "up", "--timeout", "300")
            assert up.returncode == 0, up.output[-3000:]
            wait_until(
                lambda: (
                    task_containers(worker, demo.name, ON_WORKER)
                    and not task_containers(swarm_manager, demo.name, ON_WORKER)
                ),
                f"{ON_WORKER}'s task on the worker",
                timeout=120,
                interval=0.5,
            )

            if HMAC in (journal(demo).get("pending") or {}):  # the module's hmac test ran
                finish = run_td(demo, "--json", "rotate", "hmac", "--finish", "--force", *FAST)
                assert finish.returncode == 0, finish.output[-3000:]
                assert json.loads(finish.stdout)["data"]["auth_failures"] == 0
            rotate_hmac_listeners_first(demo)
            assert task_containers(worker, demo.name, ON_WORKER)  # still on the worker
            remember_values(demo)
            wait_until(
                lambda: listener_counters(worker, demo).get("messages_accepted", 0) > 0,
                "the worker's listener accepts the new key's messages",
                timeout=60,
                interval=1,
            )
            assert listener_counters(worker, demo).get("auth_failures") == 0.0
            assert metric(demo, "titan-execution", 3002, "auth_failures") == 0.0
            verify = run_td(demo, "--json", "verify")
            assert verify.returncode == 0, verify.output[-3000:]
            proved = json.loads(verify.stdout)
            assert worker.name in proved["data"]["nodes"]
            # the worker's secrets: the archive API (remote) cannot see a Swarm secret, so the
            # object each task mounts proves it; the manager's: read through /proc
            methods = {(r["service"], r["method"].split("+")[0]) for r in proved["rows"]}
            assert {m for s, m in methods if s == ON_WORKER} == {"swarm-object"}, methods
            assert {m for s, m in methods if s == "titan-execution"} == {"proc-root"}, methods

            # the worker's engine stops answering once the rotation has started

            def mode() -> str:
                return str((journal(demo).get("active") or {}).get("mode") or "")

            def stepping() -> bool:  # past the guard's baseline: a step has begun
                active = journal(demo).get("active") or {}
                return active.get("in_progress") is not None or bool(active.get("done"))

            with ThreadPoolExecutor(1) as pool:
                argv = ["--json", "rotate", "hmac", "--finish", "--force", *FAST]
                running = pool.submit(run_td, demo, *argv)
                wait_until(lambda: stepping() or running.done(), "the rotation's first step", 120)
                with worker.tcp_cut():
                    wait_until(lambda: mode() != "forward", "the rotation left forward", 300, 0.05)
                cut = running.result()
            assert cut.returncode == 1, cut.output[-3000:]
            doc = json.loads(cut.stdout)
            assert doc["data"]["outcome"] == "rolled back", cut.output[-3000:]
            failed = [r for r in doc["rows"] if r["status"] == "FAILED"]
            # the guard's read after the listeners' repoint (or, when the worker's task was
            # between two containers then, after their verify): blind to the worker before,
            # when only verify's K003 caught the node ("verify failed: ...")
            assert failed and failed[0]["action"] in ("repoint", "verify"), failed
            note = failed[0]["note"]
            assert "cannot be reached" in note, failed  # the step's own read, or the guard's
            assert worker.name in note and "does not answer" in note, failed
            assert HMAC in journal(demo)["pending"]
            remember_values(demo)
            after = run_td(demo, "--json", "verify")
            report = json.loads(after.stdout)
            bad = [r for r in report["rows"] if r["problem"]]
            assert after.returncode == 0, (bad, report["findings"])
            assert_consistent(demo)
        finally:
            # every service back on the manager before the worker leaves (the module's stack)
            place(demo, ())
            back = run_td(demo, "up", "--timeout", "300")
            assert back.returncode == 0, back.output[-3000:]
            map_nodes(demo.root, {})
