"""The Swarm path on the real engine (README "Several hosts"): a single-node swarm this module
creates when the engine is not in one (`docker swarm init --advertise-addr 127.0.0.1`) and
leaves again afterwards (`docker swarm leave --force`); an engine already in a swarm is reused
and left as it was. Busybox services from tests/integration/stackkit.py, project `tdtest-*`.

One flow per test, each cleaning up only what it created (its stack, its secret objects, its
foreign canary secrets)."""

from __future__ import annotations

import json
import secrets as pyrandom
import subprocess
import uuid

import pytest
import yaml

from tests import canary
from tests.integration.stackkit import Stack, assert_no_canary
from tests.poll import wait_until

pytestmark = pytest.mark.docker


def docker(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, check=False, timeout=120
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


@pytest.fixture(scope="module")
def single_node_swarm(docker_engine):
    """The engine as a swarm manager for this module; restored as found at the end."""
    before = swarm_state()
    created = False
    if before == "inactive":
        init = docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        assert init.returncode == 0, init.stderr
        created = True
    else:
        manager = docker("info", "--format", "{{.Swarm.ControlAvailable}}").stdout.strip()
        if manager != "true":
            pytest.fail(f"the engine is in a swarm ({before}) but not a manager", pytrace=False)
    yield
    if created:
        leave = docker("swarm", "leave", "--force")
        assert leave.returncode == 0, leave.stderr
        assert swarm_state() == "inactive"


def our_secrets(project: str) -> dict[str, dict[str, str]]:
    """name -> labels of the secret objects the tool made for `project` (both labels)."""
    listed = docker(
        "secret", "ls", "--filter", f"label=org.titan-deploy.project={project}", "-q"
    ).stdout.split()
    out = {}
    for sid in listed:
        spec = json.loads(docker("secret", "inspect", sid).stdout)[0]["Spec"]
        labels = spec.get("Labels") or {}
        if "org.titan-deploy.secret" in labels:
            out[spec["Name"]] = labels
    return out


@pytest.fixture
def swarm_stack(single_node_swarm, stack):
    """A stack (compose file as for Compose) and cleanup of its swarm objects."""
    made: list[Stack] = []

    def factory(**kwargs) -> Stack:
        s = stack(**kwargs)
        made.append(s)
        return s

    yield factory
    for s in made:
        docker("stack", "rm", s.name)
        wait_until(lambda s=s: not stack_services(s.name), f"stack {s.name} removed")
        for name in our_secrets(s.name):
            docker("secret", "rm", name)


def stack_services(project: str) -> list[str]:
    listed = docker(
        "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={project}"
    )
    return listed.stdout.split()


def foreign_secret(labels: dict[str, str]) -> str:
    """A secret object the tool did not create (a random value on stdin)."""
    name = f"tdtest-foreign-{uuid.uuid4().hex[:8]}"
    argv = ["secret", "create"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    made = docker(*argv, name, "-", stdin=pyrandom.token_hex(16).encode())
    assert made.returncode == 0, made.stderr
    return name


def td_json(s: Stack, *args: str) -> tuple[int, dict]:
    result = s.td("--json", "--swarm", *args, timeout=300)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (rc {result.returncode}):\n{result.output}", pytrace=False)


def service_specs(project: str) -> str:
    return docker("service", "inspect", *stack_services(project)).stdout


def test_up_verify_change_and_down_on_swarm(swarm_stack):
    s = swarm_stack()
    foreign = [foreign_secret({}), foreign_secret({"org.titan-deploy.project": s.name})]
    try:
        code, up = td_json(s, "up", "--timeout", "120")
        assert code == 0, up
        assert up["summary"].startswith("stack up on swarm and verified")
        # pull_policy (Compose only) is left out of the stack's copy, said as a warning
        assert any(f["code"] == "K002" and "pull_policy" in f["message"] for f in up["findings"])
        objects = our_secrets(s.name)
        assert set(objects) == set(up["data"]["objects"]) and len(objects) == 2
        for name, labels in objects.items():
            source = labels["org.titan-deploy.secret"]
            assert name.startswith(f"{s.name}_{source}_")
        rows = {(r["service"], r["secret"]): r for r in up["rows"]}
        assert set(rows) == {
            ("signer", "db_password"),
            ("signer", "api_token"),
            ("reader", "db_password"),
        }
        assert all(not r["problem"] and r["containers"] == 1 for r in rows.values())
        # the reader (uid 1000) reads its file: Swarm mounts it owned by that uid, 0440
        overlay = yaml.safe_load((s.root / "docker-stack.secrets.yml").read_text())
        mount = overlay["services"]["reader"]["secrets"][0]
        assert (mount["uid"], mount["gid"], mount["mode"]) == ("1000", "10500", 0o440)

        # a changed value is a new object and a rolling update, never the immutability error
        old = {n for n, lab in objects.items() if lab["org.titan-deploy.secret"] == "db_password"}
        value = pyrandom.token_urlsafe(32).encode()
        s.secret_path("db_password").write_bytes(value)
        s.values["db_password_v2"] = value
        code, again = td_json(s, "up", "--timeout", "120")
        assert code == 0, again
        now = {
            n
            for n, lab in our_secrets(s.name).items()
            if lab["org.titan-deploy.secret"] == "db_password"
        }
        new = now - old
        assert len(new) == 1 and new <= set(again["data"]["objects"])

        code, verify = td_json(s, "verify")
        assert code == 0, verify
        assert verify["data"]["engine"] == "swarm" and verify["data"]["verified"] == 3
        code, status = td_json(s, "status")
        assert code == 0, status
        assert {r["service"]: r["replicas"] for r in status["rows"]} == {
            "reader": "1/1",
            "signer": "1/1",
        }
        # no value in any output, nor in what the engine stores for the services
        assert_no_canary(s, service_specs(s.name))

        code, down = td_json(s, "down")
        assert code == 0, down
        assert our_secrets(s.name) == {}
        for name in foreign:  # others' secrets are never touched
            assert docker("secret", "inspect", name).returncode == 0
        assert stack_services(s.name) == []
    finally:
        for name in foreign:
            docker("secret", "rm", name)
    canary.assert_no_canary(s.values, s.outputs)


def test_verify_names_replicas_that_do_not_run(swarm_stack):
    """A task Swarm cannot place (two replicas, at most one per node, one node) is K004: the
    rows of that service fail; a missing task is never a silent pass."""
    s = swarm_stack()
    code, up = td_json(s, "up", "--timeout", "120")
    assert code == 0, up
    update = docker(
        "service",
        "update",
        "--detach",
        "--replicas",
        "2",
        "--replicas-max-per-node",
        "1",
        f"{s.name}_reader",
    )
    assert update.returncode == 0, update.stderr

    def pending() -> bool:
        tasks = docker(
            "service", "ps", "-q", "--filter", "desired-state=running", f"{s.name}_reader"
        )
        return len(tasks.stdout.split()) == 2

    wait_until(pending, "a second reader task")
    code, verify = td_json(s, "verify")
    assert code == 1, verify
    k004 = [f for f in verify["findings"] if f["code"] == "K004"]
    assert k004 and all(f["service"] == "reader" for f in k004)
    assert any("1 of 2 replicas running" in f["message"] for f in k004)
    reader = [r for r in verify["rows"] if r["service"] == "reader"]
    assert reader and all(r["problem"] and r["running"] is False for r in reader)
    signer = [r for r in verify["rows"] if r["service"] == "signer"]
    assert signer and all(not r["problem"] for r in signer)


def test_a_base_file_stack_deploy_cannot_take_is_refused_before_any_object(swarm_stack):
    s = swarm_stack()

    def add_platform(doc: dict) -> None:
        doc["services"]["signer"]["platform"] = "linux/amd64"

    s.edit_compose(add_platform)
    code, up = td_json(s, "up", "--timeout", "60")
    assert code == 1, up
    assert "up stopped at stack" in up["summary"]
    k001 = [f for f in up["findings"] if f["code"] == "K001"]
    assert [(f["service"], f["file"]) for f in k001] == [("signer", "docker-compose.yml")]
    assert our_secrets(s.name) == {}
    assert not (s.root / "docker-stack.secrets.yml").exists()


def test_audit_logs_on_swarm_reads_every_task_through_the_manager(swarm_stack):
    """A service that prints its secret: `--swarm audit-logs` (service logs through the
    manager) names the service and the secret, never the value."""
    s = swarm_stack()

    def leak(doc: dict) -> None:
        loop = doc["services"]["signer"]["command"][-1]
        doc["services"]["signer"]["command"][-1] = f"cat /run/secrets/api_token; echo; {loop}"

    s.edit_compose(leak)
    code, up = td_json(s, "up", "--timeout", "120")
    assert code == 0, up

    def audited() -> dict | None:
        code, report = td_json(s, "audit-logs")
        return report if code == 1 else None

    report = wait_until(audited, "the leak in the signer's service logs", timeout=60)
    assert report["data"]["engine"] == "swarm"
    leaks = {(f["service"], f["secret"]) for f in report["findings"] if f["severity"] == "error"}
    assert ("signer", "api_token") in leaks
    code, clean = td_json(s, "audit-logs", "--service", "reader")
    assert code == 0, clean
    assert_no_canary(s)


def test_rotate_hmac_on_swarm_listeners_first_nothing_rejected(
    single_node_swarm, demo_images, tmp_path
):
    """The demo stack on Swarm (demo/docker-compose.swarm.yml: dnsrr), then `rotate hmac`:
    listeners get the new key beside the old one, converge and verify before the signer
    changes (the auth guard, threshold 0, watched every step), journaled; no listener counted
    an authentication failure; verify proves both keys on the listeners; down removes every
    object it made."""
    import docker as docker_sdk

    from tests.integration.demo import make_demo
    from tests.integration.rotation_kit import scrape

    demo = make_demo(tmp_path)
    swarm_file = ("-f", "demo/docker-compose.swarm.yml", "--swarm")
    try:
        up = demo.td(*swarm_file, "--json", "up", "--timeout", "240")
        assert up.returncode == 0, up.output[-3000:]
        rotate = demo.td(*swarm_file, "--json", "rotate", "hmac")
        assert rotate.returncode == 0, rotate.output[-3000:]
        doc = json.loads(rotate.stdout)
        assert doc["data"]["outcome"] == "completed" and doc["data"]["auth_failures"] == 0
        steps = [line for line in rotate.stderr.splitlines() if "] repoint " in line]
        assert "titan-execution, titan-sentinel" in steps[0] and "titan-brain" in steps[1]
        status = demo.td(*swarm_file, "--json", "rotate", "status")
        assert "titan_hmac_secret" in json.loads(status.stdout)["data"]["pending"]
        for service, port in (("titan-execution", 3002), ("titan-sentinel", 8084)):
            ids = docker(
                "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={demo.name}_{service}"
            ).stdout.split()
            container = docker_sdk.from_env().containers.get(ids[0])
            metrics = scrape(container, f"http://127.0.0.1:{port}/metrics")
            assert metrics and metrics.get("auth_failures", 0.0) == 0.0, metrics
        verify = demo.td(*swarm_file, "--json", "verify")
        assert verify.returncode == 0, verify.output[-3000:]
        secrets = {(r["service"], r["secret"]) for r in json.loads(verify.stdout)["rows"]}
        assert ("titan-execution", "titan_hmac_secret.previous") in secrets
        down = demo.td(*swarm_file, "down")
        assert down.returncode == 0, down.output
        assert our_secrets(demo.name) == {}
    finally:
        docker("stack", "rm", demo.name)
        wait_until(lambda: not stack_services(demo.name), f"stack {demo.name} removed")
        for name in our_secrets(demo.name):
            docker("secret", "rm", name)
    assert_no_canary(demo)


def test_an_update_that_can_never_finish_is_refused_before_any_object(swarm_stack):
    """start-first with one replica allowed per node, on one node: K007, nothing deployed."""
    s = swarm_stack()

    def start_first(doc: dict) -> None:
        doc["services"]["signer"]["deploy"] = {
            "placement": {"max_replicas_per_node": 1},
            "update_config": {"order": "start-first"},
        }

    s.edit_compose(start_first)
    code, up = td_json(s, "up", "--timeout", "60")
    assert code == 1, up
    assert "up stopped at updates" in up["summary"]
    assert [(f["code"], f["service"]) for f in up["findings"] if f["severity"] == "error"] == [
        ("K007", "signer")
    ]
    assert our_secrets(s.name) == {} and stack_services(s.name) == []
