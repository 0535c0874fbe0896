"""A rotation of a config's input renders a new version of the config and repoints its
consumers in the procedure's order (core/rotation/derived.py, README "Config files")."""

from __future__ import annotations

import pytest

from tests.projectkit import with_redis_conf
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.rotation import plan_db, plan_restart, restart_spec
from titan_deploy.core.rotation.codec import (
    spec_from_dict,
    spec_to_dict,
    step_from_dict,
    step_to_dict,
)
from titan_deploy.core.rotation.steps import (
    CheckLog,
    Probe,
    Repoint,
    SyncBase,
    Verify,
    WriteVersion,
)
from titan_deploy.errors import ConfigError, UsageError

MANIFEST = with_redis_conf(
    """\
version: 1
secrets:
  redis_password:
    kind: password
    generate: true
    consumers: {titan-brain: REDIS_PASSWORD_FILE, redis: REDIS_PASSWORD_FILE}
  db_password:
    kind: password
    generate: true
    rotation: rolling
    provision: {kind: postgres, service: postgres}
    consumers: {postgres: POSTGRES_PASSWORD_FILE, titan-brain: DB_PASSWORD_FILE}
""",
    """\
  dsn:
    template: templates/dsn.j2
    inputs: [db_password]
    consumers: {titan-console: DATABASE_URL_FILE}
""",
)


def test_rotate_secret_renders_a_new_config_version_and_repoints_its_consumer() -> None:
    manifest = parse_manifest_text(MANIFEST)
    plan = plan_restart(
        manifest, "redis_password", {}, (), 0, "generate", configs={"redis_conf": ((1,), 3)}
    )
    assert plan.secrets == ("redis_password", "redis_conf")
    assert plan.new_versions == {"redis_password": 1, "redis_conf": 4}
    writes = [s for s in plan.steps if isinstance(s, WriteVersion)]
    assert [(w.secret, w.source) for w in writes] == [
        ("redis_password", "generate"),
        ("redis_conf", "render"),
    ]
    repoints = [s for s in plan.steps if isinstance(s, Repoint)]
    redis = next(r for r in repoints if r.services == ("redis",))
    assert {(c.secret, c.assignment.version) for c in redis.changes} == {
        ("redis_password", 1),
        ("redis_conf", 4),
    }
    assert SyncBase("redis_conf", 4) in plan.steps
    assert "redis_conf" in plan.specs and plan.specs["redis_conf"].is_config


def test_rotate_db_repoints_the_configs_consumers_before_the_holder() -> None:
    manifest = parse_manifest_text(MANIFEST)
    plan = plan_db(manifest, "db_password", {}, (), 0, configs={"dsn": ((), 0)})
    services = [s.services[0] for s in plan.steps if isinstance(s, Repoint)]
    assert services == ["titan-brain", "titan-console", "postgres"]
    assert WriteVersion("dsn", 1, "render") in plan.steps


def test_a_config_is_never_rotated_by_itself() -> None:
    manifest = parse_manifest_text(MANIFEST)
    with pytest.raises(UsageError, match="rotate an input"):
        restart_spec(manifest, "redis_conf")


# A config's consumer takes `reload:` and `proof:` as a secret's does (README "Reload and proofs")
PROVED = MANIFEST.replace(
    "consumers: {redis: {target: /run/secrets/redis.conf}}",
    "consumers: {redis: {target: /run/secrets/redis.conf, proof: {log: ready, probe: [ping]}}}",
).replace(
    "consumers: {titan-console: DATABASE_URL_FILE}",
    "consumers: {titan-console: {env: DATABASE_URL_FILE, proof: {probe: [db-ping]}}}",
)


def test_a_config_consumers_proof_follows_its_verify() -> None:
    manifest = parse_manifest_text(PROVED)
    plan = plan_restart(manifest, "redis_password", {}, (), 0, "generate", configs={})
    i = plan.steps.index(Verify(("redis",)))
    assert plan.steps[i + 1 : i + 3] == (CheckLog("redis", "ready"), Probe("redis", ("ping",)))
    db = plan_db(manifest, "db_password", {}, (), 0, configs={"dsn": ((), 0)})
    j = db.steps.index(Verify(("titan-console",)))
    assert db.steps[j + 1] == Probe("titan-console", ("db-ping",))


@pytest.mark.parametrize("secret", ["redis_password", "db_password"])
def test_a_config_consumer_with_a_live_reload_is_refused(secret: str) -> None:
    """The rendered config is bind-mounted per version like a secret: a signal or exec reload
    would re-read the OLD file, so every plan that renders a new version refuses it."""
    text = PROVED.replace(
        "{target: /run/secrets/redis.conf, proof:",
        "{target: /run/secrets/redis.conf, reload: {signal: SIGHUP}, proof:",
    ).replace(
        "{env: DATABASE_URL_FILE, proof:", "{env: DATABASE_URL_FILE, reload: {exec: [x]}, proof:"
    )
    manifest = parse_manifest_text(text)
    with pytest.raises(ConfigError) as info:
        if secret == "redis_password":
            plan_restart(manifest, secret, {}, (), 0, "generate", configs={})
        else:
            plan_db(manifest, secret, {}, (), 0, configs={})
    where = (
        "configs.redis_conf.consumers.redis"
        if secret == "redis_password"
        else ("configs.dsn.consumers.titan-console")
    )
    assert f"{where}.reload:" in str(info.value)
    assert "cannot apply a new version" in str(info.value)


def test_the_journal_keeps_a_render_step_a_probe_and_a_config_consumers_proof() -> None:
    manifest = parse_manifest_text(PROVED)
    plan = plan_restart(manifest, "redis_password", {}, (), 0, "generate", configs={})
    for step in plan.steps:
        assert step_from_dict(step_to_dict(step)) == step
    assert WriteVersion("redis_conf", 1, "render") in plan.steps
    assert Probe("redis", ("ping",)) in plan.steps
    for spec in plan.specs.values():
        assert spec_from_dict(spec_to_dict(spec)) == spec
