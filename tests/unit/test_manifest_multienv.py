"""A consumer that reads one secret under several env names (issue 10 item 1, first bullet):
`env: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]`. The manifest accepts it, the overlay points
every name at the one mount, verify and lint expect every name. Broken spellings are in the
corpus (tests/unit/corpus/33_* .. 36_*)."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from titan_deploy.core.containers import PROC_ROOT, ContainerInfo, FileStat, Process
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import Mount, OverlayPlan, ServicePlan, plan_overlay, render_overlay
from titan_deploy.core.verify import Facts, HostFile, Identity, parse_time, verify
from titan_deploy.errors import ConfigError

MANIFEST = """\
version: 1
secrets:
  titan_db_password:
    kind: password
    consumers:
      postgres: POSTGRES_PASSWORD_FILE
      titan-brain: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]
      titan-sentinel: {env: [DB_PASSWORD_FILE]}
"""


def test_a_list_of_env_names_parses_primary_first() -> None:
    spec = parse_manifest_text(MANIFEST).secrets["titan_db_password"]
    brain = spec.consumer("titan-brain")
    assert brain is not None
    assert brain.env == "TITAN_DB_PASSWORD_FILE"
    assert brain.envs == ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    sentinel = spec.consumer("titan-sentinel")
    assert sentinel is not None and sentinel.envs == ("DB_PASSWORD_FILE",)
    postgres = spec.consumer("postgres")
    assert postgres is not None and postgres.also == ()


def test_the_overlay_points_every_name_at_one_mount() -> None:
    text = render_overlay(plan_overlay(parse_manifest_text(MANIFEST)))
    brain = yaml.safe_load(text)["services"]["titan-brain"]
    assert brain["environment"] == {
        "TITAN_DB_PASSWORD_FILE": "/run/secrets/titan_db_password",
        "DB_PASSWORD_FILE": "/run/secrets/titan_db_password",
    }
    assert brain["secrets"] == [{"source": "titan_db_password", "target": "titan_db_password"}]


def test_an_env_name_of_a_list_still_clashes_with_another_secret() -> None:
    text = MANIFEST + (
        "  other:\n    kind: password\n    consumers:\n      titan-brain: DB_PASSWORD_FILE\n"
    )
    with pytest.raises(ConfigError, match="titan-brain already gets DB_PASSWORD_FILE"):
        parse_manifest_text(text)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("[]", "must name at least one env var"),
        ("[A_FILE, A_FILE]", "A_FILE is listed twice"),
        ("[A_FILE, 5]", "must be an env var name"),
        ("{env: [A_FILE, bad-name]}", "consumers.app.env[1]"),
        ("{env: {a: b}}", "should be a string or a list of strings"),
    ],
)
def test_a_bad_list_is_a_config_error(entry: str, message: str) -> None:
    text = f"version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      app: {entry}\n"
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_manifest_text(text, "m.yml")


STARTED = "2026-01-02T03:04:05.123456789Z"
OLD = (parse_time(STARTED) or 0) - 3600
VALUE = b"canary-" + b"Zq8Lm3Vt7Rw1Ks9Pd4Hn6Jb2Fx5Cy0Ga"
PATH = "/run/secrets/db_password"
MOUNT = Mount(
    source="db_password",
    secret="db_password",
    version=None,
    target="db_password",
    env="DB_PASSWORD_FILE",
    also=("TITAN_DB_PASSWORD_FILE",),
)


def _two_name_facts(env: dict[str, str]) -> Facts:
    """One running container of `app` with the db_password mount, its `env` as given."""
    digest = hashlib.sha256(VALUE).hexdigest()
    info = ContainerInfo(
        id="c1",
        name="proj-app-1",
        service="app",
        number=1,
        status="running",
        restarting=False,
        restart_count=0,
        exit_code=0,
        health="healthy",
        started_at=STARTED,
        user="1000",
        group_add=(),
        env=env,
        command=("app",),
        labels={},
        healthcheck=(),
        pid=4242,
        mounts=(PATH,),
    )
    stat = FileStat(
        path=PATH,
        exists=True,
        sha256=digest,
        size=len(VALUE),
        uid=1000,
        gid=1000,
        mode=0o400,
        method=PROC_ROOT,
        dev=64,
        ino=1001,
        ctime=OLD,
    )
    process = Process(
        pid=7,
        comm="app",
        uid=1000,
        gid=1000,
        groups=frozenset({1000}),
        dac_override=False,
        argv=("app",),
        env_names=frozenset(env),
    )
    return Facts(
        plan=OverlayPlan(
            services=(ServicePlan("app", (MOUNT,)),), files=(("db_password", "./s/db"),)
        ),
        containers={"app": [info]},
        files={("c1", PATH): stat},
        host={"db_password": HostFile(sha256=digest, mtime=OLD, ctime=OLD, dev=64, ino=1001)},
        identities={"c1": Identity(uid=1000, gid=1000, groups=frozenset(), name="app")},
        values={"db_password": VALUE},
        processes={"c1": (process,)},
    )


def test_verify_expects_every_env_name() -> None:
    good = {"DB_PASSWORD_FILE": PATH, "TITAN_DB_PASSWORD_FILE": PATH}
    _, findings = verify(_two_name_facts(good))
    assert not [f for f in findings if f.severity == "error"], [f.message for f in findings]
    _, findings = verify(_two_name_facts({"DB_PASSWORD_FILE": PATH}))
    errors = [f for f in findings if f.severity == "error"]
    assert [f.code for f in errors] == ["V004"]
    assert "TITAN_DB_PASSWORD_FILE does not point at" in errors[0].message
