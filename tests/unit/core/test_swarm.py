"""core/swarm.py: content-named objects, the stack overlay, what `docker stack deploy`
refuses, task convergence and which objects may be removed (README "Several hosts")."""

from __future__ import annotations

import pytest
import yaml

from titan_deploy.core import swarm
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import BaseCompose, BaseService, plan_overlay
from titan_deploy.core.swarm import TaskFact
from titan_deploy.errors import ConfigError

MANIFEST = """
version: 1
secrets_gid: 10500
secrets:
  db_password:
    kind: password
    consumers: {signer: DB_PASSWORD_FILE, reader: DB_PASSWORD_FILE}
  api_token:
    kind: token
    consumers:
      signer: API_TOKEN_FILE
      reader: {target: /etc/app/token}
"""


def test_object_name_is_by_content_and_project():
    a = swarm.object_name("p", "db_password", b"one")
    assert a.startswith("p_db_password_") and len(a) == len("p_db_password_") + 12
    assert a == swarm.object_name("p", "db_password", b"one")
    assert a != swarm.object_name("p", "db_password", b"two")  # a changed value: a new object
    assert a != swarm.object_name("q", "db_password", b"one")  # projects never share one
    # the same value under another source name is another object (domain-separated hash)
    assert a.split("_")[-1] != swarm.object_name("p", "api_token", b"one").split("_")[-1]


def test_object_name_longer_than_swarm_allows_is_refused():
    with pytest.raises(ConfigError, match="shorter project name"):
        swarm.object_name("p" * 50, "db_password", b"v")


def test_ours_needs_both_labels_and_the_project():
    mine = swarm.object_labels("p", "db_password")
    assert swarm.is_ours(mine, "p")
    assert not swarm.is_ours(mine, "q")
    assert not swarm.is_ours({swarm.LABEL_PROJECT: "p"}, "p")  # someone else's, same project label
    assert not swarm.is_ours({}, "p") and not swarm.is_ours(None, "p")


def test_removable_never_foreign_referenced_or_kept():
    objects = [
        ("1", "p_a_1", swarm.object_labels("p", "a")),  # ours, unused: removed
        ("2", "p_a_2", swarm.object_labels("p", "a")),  # ours, referenced: kept
        ("3", "p_a_3", swarm.object_labels("p", "a")),  # ours, current: kept
        ("4", "foreign", {}),
        ("5", "q_a_1", swarm.object_labels("q", "a")),
        ("6", "p_fake", {swarm.LABEL_PROJECT: "p"}),
    ]
    assert swarm.removable(objects, "p", referenced={"2"}, keep={"p_a_3"}) == [("1", "p_a_1")]


def stack_text(manifest_text: str = MANIFEST, uids=None) -> dict:
    manifest = parse_manifest_text(manifest_text)
    plan = plan_overlay(manifest)
    names = {source: f"p_{source}_abc" for source, _ in plan.files}
    return yaml.safe_load(swarm.render_stack(swarm.plan_stack(plan, names, manifest, uids)))


def test_stack_overlay_mounts_external_objects_with_permissions():
    doc = stack_text(uids={"reader": "1000"})
    assert doc["secrets"] == {
        "api_token": {"external": True, "name": "p_api_token_abc"},
        "db_password": {"external": True, "name": "p_db_password_abc"},
    }
    signer = doc["services"]["signer"]
    assert signer["environment"] == {
        "DB_PASSWORD_FILE": "/run/secrets/db_password",
        "API_TOKEN_FILE": "/run/secrets/api_token",
    }
    mount = signer["secrets"][0]
    assert mount == {
        "source": "db_password",
        "target": "db_password",
        "uid": "0",
        "gid": "10500",
        "mode": 0o440,
    }
    reader = doc["services"]["reader"]
    assert {m["target"] for m in reader["secrets"]} == {"db_password", "/etc/app/token"}
    assert all(m["uid"] == "1000" for m in reader["secrets"])
    assert "environment" in reader and list(reader["environment"]) == ["DB_PASSWORD_FILE"]


def test_without_secrets_gid_files_are_0400_owned_by_the_consumer():
    doc = stack_text(MANIFEST.replace("secrets_gid: 10500\n", ""), uids={"reader": "1000"})
    mount = doc["services"]["reader"]["secrets"][0]
    assert (mount["uid"], mount["gid"], mount["mode"]) == ("1000", "0", 0o400)


def test_stack_overlay_cannot_take_out_what_the_base_sets():
    manifest = parse_manifest_text(MANIFEST)
    base = BaseCompose(services={"signer": BaseService(env=(("DB_PASSWORD", "x"),))})
    plan = plan_overlay(manifest, base=base)
    names = {source: "n" for source, _ in plan.files}
    with pytest.raises(ConfigError, match="sets DB_PASSWORD"):
        swarm.plan_stack(plan, names, manifest)
    plan = plan_overlay(manifest, base=BaseCompose(secrets=("db_password",)))
    with pytest.raises(ConfigError, match="declare db_password"):
        swarm.plan_stack(plan, names, manifest)


def test_numeric_uid():
    assert swarm.numeric_uid("1000") == "1000"
    assert swarm.numeric_uid("472:0") == "472"
    assert swarm.numeric_uid("grafana") is None
    assert swarm.numeric_uid("") is None


def test_stack_base_strips_what_a_stack_cannot_take_and_refuses_the_rest():
    doc = {
        "name": "x",
        "include": ["other.yml"],
        "x-common": {"restart": "always"},
        "services": {
            "a": {
                "image": "i",
                "profiles": ["p"],
                "pull_policy": "never",
                "group_add": ["1"],
                "depends_on": {"b": {"condition": "service_healthy"}},
                "ports": ["127.0.0.1:5432:5432", "8080:80", {"target": 1, "host_ip": "10.0.0.1"}],
                "init": True,
                "x-note": 1,
            },
            "b": {"build": ".", "platform": "linux/amd64"},
        },
    }
    body, found = swarm.stack_base(doc, "docker-compose.yml")
    assert body == {
        "services": {
            "a": {"image": "i", "ports": ["8080:80"], "init": True, "x-note": 1},
            "b": {},
        }
    }
    errors = {(f.service, f.message.split(" is ")[0]) for f in found if f.code == "K001"}
    assert errors == {(None, "top-level `include:`"), ("b", "`platform:`")}
    stripped = [(f.service, f.message.split(" left out")[0]) for f in found if f.code == "K002"]
    assert stripped == [
        (None, "top-level `name:`"),
        ("a", "`pull_policy:`"),
        ("a", "`group_add:`"),
        ("a", "`depends_on:`"),
        ("a", "port 127.0.0.1:5432:5432"),  # never widened to every interface
        ("a", "port {'target': 1, 'host_ip': '10.0.0.1'}"),
        ("b", "`build:`"),
    ]
    assert all(f.severity == "warning" for f in found if f.code == "K002")
    assert all(f.file == "docker-compose.yml" for f in found)


def test_a_service_needs_an_image_in_some_stack_file():
    base = {"services": {"a": {"image": "i"}, "b": {"build": "."}}}
    override = {"services": {"a": {"environment": {"X": "1"}}, "c": {"ports": None}}}
    found = swarm.without_image([("base.yml", base), ("demo/override.yml", override)])
    assert [(f.code, f.service, f.file) for f in found] == [
        ("K001", "b", "base.yml"),
        ("K001", "c", "demo/override.yml"),
    ]
    body, _ = swarm.stack_base(override, "demo/override.yml")
    assert body["services"]["c"] == {}  # `ports: !reset []` (None) gives the stack nothing


def test_stack_base_keeps_only_active_services():
    doc = {"services": {"a": {"image": "i"}, "edge": {"image": "t", "profiles": ["edge"]}}}
    body, found = swarm.stack_base(doc, "f.yml", active={"a"})
    assert body == {"services": {"a": {"image": "i"}}} and found == []
    body, _ = swarm.stack_base(doc, "f.yml")
    assert body["services"]["edge"] == {"image": "t"}  # `profiles:` itself never reaches a stack


def test_stack_copy_name():
    assert swarm.stack_copy_name("docker-compose.prod.yml") == "docker-compose.prod.stack.yml"
    assert swarm.stack_copy_name("deploy/app.yaml") == "deploy/app.stack.yml"


def task(state: str, node: str = "n1") -> TaskFact:
    return TaskFact("svc", f"t-{state}-{node}", f"id-{node}", node, state, "c")


def test_convergence():
    assert swarm.convergence_findings("svc", 2, [task("running"), task("running", "n2")]) == []
    short = swarm.convergence_findings("svc", 2, [task("running")])
    assert [f.code for f in short] == ["K004"] and "1 of 2" in short[0].message
    starting = swarm.convergence_findings("svc", 1, [task("starting")])
    assert [f.code for f in starting] == ["K004", "K004"]
    assert swarm.convergence_findings("svc", None, [task("running")]) == []  # global
    assert all(f.severity == "error" for f in short + starting)


def test_unreachable_is_an_error_naming_the_node():
    finding = swarm.unreachable(task("running", "worker-1"), "no endpoint")
    assert finding.code == "K003" and finding.severity == "error"
    assert "worker-1" in finding.message and "NOT verified" in finding.message


def test_merged_services_merge_mappings_and_replace_the_rest():
    base = {"services": {"a": {"deploy": {"replicas": 2, "resources": {"x": 1}}, "ports": [1]}}}
    over = {
        "services": {"a": {"deploy": {"update_config": {"order": "start-first"}}, "ports": [2]}}
    }
    merged = swarm.merged_services([("b.yml", base), ("o.yml", over)])
    assert merged["a"] == {
        "deploy": {"replicas": 2, "resources": {"x": 1}, "update_config": {"order": "start-first"}},
        "ports": [2],
    }


def deploy(**settings) -> dict:
    return {"a": {"deploy": settings}}


START_FIRST = {"order": "start-first"}


def test_start_first_without_a_free_slot_deadlocks():
    one_per_node = {"max_replicas_per_node": 1}
    stuck = deploy(replicas=2, placement=one_per_node, update_config=START_FIRST)
    [finding] = swarm.update_deadlocks(stuck, nodes=2)
    assert finding.code == "K007" and finding.severity == "error" and finding.service == "a"
    assert "update_config" in finding.message and "no slot" in finding.message
    assert swarm.update_deadlocks(stuck, nodes=3) == []  # a third node has the slot
    rollback = deploy(placement=one_per_node, rollback_config=START_FIRST)
    assert [f.message.split(".")[1] for f in swarm.update_deadlocks(rollback, 1)] == [
        "rollback_config"
    ]
    # stop-first, no per-node limit, or a global service: nothing to refuse
    assert swarm.update_deadlocks(deploy(placement=one_per_node), 1) == []
    assert swarm.update_deadlocks(deploy(replicas=5, update_config=START_FIRST), 1) == []
    assert swarm.update_deadlocks(deploy(mode="global", update_config=START_FIRST), 1) == []


def test_start_first_with_a_host_port_on_every_node_deadlocks():
    service = {
        "a": {
            "deploy": {"replicas": 1, "update_config": START_FIRST},
            "ports": [{"target": 80, "published": 8080, "mode": "host"}],
        }
    }
    assert [f.code for f in swarm.update_deadlocks(service, nodes=1)] == ["K007"]
    assert swarm.update_deadlocks(service, nodes=2) == []


def test_every_updated_service_is_rolled_back_by_swarm_unless_the_user_chose():
    """Swarm's update monitor reverts a failed update of each service the overlay updates:
    failure_action rollback, merged key by key into the base files' update_config (Swarm's
    monitor window stays: the user's, else its default); a failure_action of the user's wins."""
    from titan_deploy.core.swarm_update import FAILURE_ACTION, user_update_config

    manifest = parse_manifest_text(MANIFEST)
    plan = plan_overlay(manifest)
    names = {source: f"p_{source}_abc" for source, _ in plan.files}
    base = {
        "signer": {"deploy": {"update_config": {"parallelism": 2, "order": "start-first"}}},
        "reader": {"deploy": {"update_config": {"failure_action": "pause"}}},
    }
    doc = yaml.safe_load(swarm.render_stack(swarm.plan_stack(plan, names, manifest, None, base)))
    assert doc["services"]["signer"]["deploy"] == {
        "update_config": {"failure_action": FAILURE_ACTION}
    }
    assert "deploy" not in doc["services"]["reader"]
    mine = {"reader": {"deploy": {"update_config": {"monitor": "1m"}}}}
    doc = yaml.safe_load(swarm.render_stack(swarm.plan_stack(plan, names, manifest, None, mine)))
    assert doc["services"]["reader"]["deploy"] == {"update_config": {"failure_action": "rollback"}}
    assert stack_text()["services"]["signer"]["deploy"]["update_config"]["failure_action"] == (
        "rollback"
    )
    for odd in [{"deploy": None}, {"deploy": {"update_config": "x"}}, "x", None]:
        assert user_update_config(odd) == {}
