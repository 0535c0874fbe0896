"""The Swarm path on a real engine (README "Several hosts"): a single-node swarm on an extra
dockerd in a network namespace of its own (tests/netnsdocker.py, the `swarm_manager` fixture),
never the main engine, whose swarm state the suite never touches. Busybox services from
tests/integration/stackkit.py, project `tdtest-*`, the tool run with DOCKER_HOST naming that
engine.

One flow per test, each cleaning up only what it created (its stack, its secret objects, its
foreign canary secrets)."""

from __future__ import annotations

import hashlib
import json
import secrets as pyrandom

import pytest
import yaml

from tests import canary
from tests.integration.stackkit import Stack, assert_no_canary, make_stack
from tests.integration.swarmkit import (
    foreign_secret,
    our_secrets,
    remove_stack,
    service_specs,
    stack_services,
)
from tests.integration.swarmkit import td_json as node_td_json
from tests.poll import wait_until

pytestmark = pytest.mark.docker


@pytest.fixture
def swarm_stack(swarm_manager, tmp_path, busybox_image):
    """A stack (compose file as for Compose) for the lab's manager, and cleanup of its swarm
    objects there."""
    made: list[Stack] = []

    def factory(**kwargs) -> Stack:
        s = make_stack(tmp_path, busybox_image, **kwargs)
        made.append(s)
        return s

    yield factory
    for s in made:
        remove_stack(swarm_manager, s.name)


@pytest.fixture
def node(swarm_manager):
    return swarm_manager


def test_up_verify_change_and_down_on_swarm(swarm_stack, node):
    s = swarm_stack()
    foreign = [foreign_secret(node, {}), foreign_secret(node, {"org.titan-deploy.project": s.name})]
    try:
        code, up = node_td_json(s, node, "up", "--timeout", "120")
        assert code == 0, up
        assert up["summary"].startswith("stack up on swarm and verified")
        # pull_policy (Compose only) is left out of the stack's copy, said as a warning
        assert any(f["code"] == "K002" and "pull_policy" in f["message"] for f in up["findings"])
        objects = our_secrets(node, s.name)
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
        code, again = node_td_json(s, node, "up", "--timeout", "120")
        assert code == 0, again
        now = {
            n
            for n, lab in our_secrets(node, s.name).items()
            if lab["org.titan-deploy.secret"] == "db_password"
        }
        new = now - old
        assert len(new) == 1 and new <= set(again["data"]["objects"])

        code, verify = node_td_json(s, node, "verify")
        assert code == 0, verify
        assert verify["data"]["engine"] == "swarm" and verify["data"]["verified"] == 3
        code, status = node_td_json(s, node, "status")
        assert code == 0, status
        assert {r["service"]: r["replicas"] for r in status["rows"]} == {
            "reader": "1/1",
            "signer": "1/1",
        }
        # no value in any output, nor in what the engine stores for the services
        assert_no_canary(s, service_specs(node, s.name))

        code, down = node_td_json(s, node, "down")
        assert code == 0, down
        assert our_secrets(node, s.name) == {}
        for name in foreign:  # others' secrets are never touched
            assert node.docker("secret", "inspect", name).returncode == 0
        assert stack_services(node, s.name) == []
    finally:
        for name in foreign:
            node.docker("secret", "rm", name)
    canary.assert_no_canary(s.values, s.outputs)


def test_verify_names_replicas_that_do_not_run(swarm_stack, node):
    """A task Swarm cannot place (two replicas, at most one per node, one node) is K004: the
    rows of that service fail; a missing task is never a silent pass."""
    s = swarm_stack()
    code, up = node_td_json(s, node, "up", "--timeout", "120")
    assert code == 0, up
    update = node.docker(
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
        tasks = node.docker(
            "service", "ps", "-q", "--filter", "desired-state=running", f"{s.name}_reader"
        )
        return len(tasks.stdout.split()) == 2

    wait_until(pending, "a second reader task")
    code, verify = node_td_json(s, node, "verify")
    assert code == 1, verify
    k004 = [f for f in verify["findings"] if f["code"] == "K004"]
    assert k004 and all(f["service"] == "reader" for f in k004)
    assert any("1 of 2 replicas running" in f["message"] for f in k004)
    reader = [r for r in verify["rows"] if r["service"] == "reader"]
    assert reader and all(r["problem"] and r["running"] is False for r in reader)
    signer = [r for r in verify["rows"] if r["service"] == "signer"]
    assert signer and all(not r["problem"] for r in signer)


def test_a_base_file_stack_deploy_cannot_take_is_refused_before_any_object(swarm_stack, node):
    s = swarm_stack()

    def add_platform(doc: dict) -> None:
        doc["services"]["signer"]["platform"] = "linux/amd64"

    s.edit_compose(add_platform)
    code, up = node_td_json(s, node, "up", "--timeout", "60")
    assert code == 1, up
    assert "up stopped at stack" in up["summary"]
    k001 = [f for f in up["findings"] if f["code"] == "K001"]
    assert [(f["service"], f["file"]) for f in k001] == [("signer", "docker-compose.yml")]
    assert our_secrets(node, s.name) == {}
    assert not (s.root / "docker-stack.secrets.yml").exists()


def test_audit_logs_on_swarm_reads_every_task_through_the_manager(swarm_stack, node):
    """A service that prints its secret: `--swarm audit-logs` (service logs through the
    manager) names the service and the secret, never the value."""
    s = swarm_stack()

    def leak(doc: dict) -> None:
        loop = doc["services"]["signer"]["command"][-1]
        doc["services"]["signer"]["command"][-1] = f"cat /run/secrets/api_token; echo; {loop}"

    s.edit_compose(leak)
    code, up = node_td_json(s, node, "up", "--timeout", "120")
    assert code == 0, up

    def audited() -> dict | None:
        code, report = node_td_json(s, node, "audit-logs")
        return report if code == 1 else None

    report = wait_until(audited, "the leak in the signer's service logs", timeout=60)
    assert report["data"]["engine"] == "swarm"
    leaks = {(f["service"], f["secret"]) for f in report["findings"] if f["severity"] == "error"}
    assert ("signer", "api_token") in leaks
    code, clean = node_td_json(s, node, "audit-logs", "--service", "reader")
    assert code == 0, clean
    assert_no_canary(s)


def test_an_update_that_can_never_finish_is_refused_before_any_object(swarm_stack, node):
    """start-first with one replica allowed per node, on one node: K007, nothing deployed."""
    s = swarm_stack()

    def start_first(doc: dict) -> None:
        doc["services"]["signer"]["deploy"] = {
            "placement": {"max_replicas_per_node": 1},
            "update_config": {"order": "start-first"},
        }

    s.edit_compose(start_first)
    code, up = node_td_json(s, node, "up", "--timeout", "60")
    assert code == 1, up
    assert "up stopped at updates" in up["summary"]
    assert [(f["code"], f["service"]) for f in up["findings"] if f["severity"] == "error"] == [
        ("K007", "signer")
    ]
    assert our_secrets(node, s.name) == {} and stack_services(node, s.name) == []


def test_rotate_secret_on_swarm_refused_when_its_update_cannot_finish_then_completed(
    swarm_stack, node
):
    """The deployed stack's signer is then given start-first with one replica per node (one
    node): `--swarm rotate secret` refuses (K007's reason, exit 2) before it writes a version,
    journals or creates an object. With that setting gone, the same rotation runs to the end: a
    new object named by the new value, the signer's rolling update, verify green on it, and no
    value in any output."""
    s = swarm_stack()
    manifest = s.root / "secrets.manifest.yml"
    doc = yaml.safe_load(manifest.read_text())
    doc["secrets"]["api_token"]["rotation"] = "restart"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, up = node_td_json(s, node, "up", "--timeout", "120")
    assert code == 0, up
    objects = our_secrets(node, s.name)
    files = sorted(p.name for p in (s.root / "secrets").iterdir())

    def start_first(doc: dict) -> None:
        doc["services"]["signer"]["deploy"] = {
            "placement": {"max_replicas_per_node": 1},
            "update_config": {"order": "start-first"},
        }

    s.edit_compose(start_first)
    code, rotate = node_td_json(s, node, "rotate", "secret", "api_token", "--generate")
    assert code == 2, rotate
    said = json.dumps(rotate)
    assert "rotation refused: signer" in said and "start-first" in said, said
    assert sorted(p.name for p in (s.root / "secrets").iterdir()) == files
    state = s.root / ".titan-deploy" / "state.json"
    assert not state.exists() or json.loads(state.read_text()).get("active") is None
    assert our_secrets(node, s.name) == objects

    s.edit_compose(lambda doc: doc["services"]["signer"].pop("deploy"))
    code, rotate = node_td_json(s, node, "rotate", "secret", "api_token", "--generate")
    assert code == 0, rotate
    assert rotate["data"]["outcome"] == "completed", rotate
    assert [r["action"] for r in rotate["rows"] if r["phase"] == "forward"][:3] == [
        "write-version",
        "repoint",
        "verify",
    ]
    for path in (s.root / "secrets").iterdir():  # the new value too: never in an output
        if path.is_file() and path.name.startswith("api_token"):
            s.values[f"{path.name}@rotated"] = path.read_bytes().strip()
    made = set(our_secrets(node, s.name)) - set(objects)
    assert made and all("_api_token" in name for name in made), (made, objects)
    code, verify = node_td_json(s, node, "verify")
    assert code == 0, verify
    assert_no_canary(s, service_specs(node, s.name))
    canary.assert_no_canary(s.values, s.outputs)


def test_a_rotation_swarm_rolls_back_fails_at_once_and_the_journal_restores_it(swarm_stack, node):
    """The signer's healthcheck passes only on the api_token it was deployed with (its sha256,
    never the value, in the compose file). `rotate secret api_token`: the signer's new task
    never becomes healthy, Swarm's update monitor rolls its update back (the overlay's
    failure_action: rollback), and the step fails naming the service and Swarm's rollback —
    without waiting out --timeout. The journal then rolls the rotation back (exit 1, outcome
    rolled back), and `verify` is green on the old value."""
    s = swarm_stack()
    manifest = s.root / "secrets.manifest.yml"
    doc = yaml.safe_load(manifest.read_text())
    doc["secrets"]["api_token"]["rotation"] = "restart"
    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    digest = hashlib.sha256(s.values["api_token"]).hexdigest()
    check = f"sha256sum /run/secrets/api_token | grep -q ^{digest}"

    def healthy_only_on_the_old_token(doc: dict) -> None:
        doc["services"]["signer"]["healthcheck"] = {
            "test": ["CMD-SHELL", check],
            "interval": "1s",
            "retries": 2,
        }

    s.edit_compose(healthy_only_on_the_old_token)
    code, up = node_td_json(s, node, "up", "--timeout", "120")
    assert code == 0, up
    overlay = yaml.safe_load((s.root / "docker-stack.secrets.yml").read_text())
    assert overlay["services"]["signer"]["deploy"]["update_config"]["failure_action"] == (
        "rollback"
    )

    code, rotate = node_td_json(
        s, node, "rotate", "secret", "api_token", "--generate", "--timeout", "600"
    )
    assert code == 1, rotate
    assert rotate["data"]["outcome"] == "rolled back", rotate
    reason = rotate["data"]["reason"]
    assert reason.startswith("signer: Swarm "), reason
    assert "rolling its update back (rollback_started)" in reason or (
        "rolled its update back (rollback_completed)" in reason
    ), reason
    back = [r for r in rotate["rows"] if r["phase"] != "forward"]
    assert back and all(r["status"] == "done" for r in back), rotate["rows"]
    state = s.root / ".titan-deploy" / "state.json"
    assert json.loads(state.read_text()).get("active") is None
    for path in (s.root / "secrets").iterdir():  # the new value too: never in an output
        if path.is_file() and path.name.startswith("api_token"):
            s.values[f"{path.name}@rotated"] = path.read_bytes().strip()
    code, verify = node_td_json(s, node, "verify")
    assert code == 0, verify
    assert_no_canary(s, service_specs(node, s.name))
    canary.assert_no_canary(s.values, s.outputs)
