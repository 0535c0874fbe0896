"""A rotation of a config's input renders a new version of the config and repoints its
consumers in the procedure's order (core/rotation/derived.py, README "Config files")."""

from __future__ import annotations

import pytest

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.rotation import plan_db, plan_restart, restart_spec
from titan_deploy.core.rotation.steps import Repoint, SyncBase, WriteVersion
from titan_deploy.errors import UsageError

MANIFEST = """\
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
configs:
  redis_conf:
    template: templates/redis.conf.j2
    inputs: [redis_password]
    file: redis.conf
    consumers: {redis: {target: /run/secrets/redis.conf}}
  dsn:
    template: templates/dsn.j2
    inputs: [db_password]
    consumers: {titan-console: DATABASE_URL_FILE}
"""


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
