"""core.verify decided from constructed facts (issue 8): what each row proves and how.

Each test builds the facts one engine read would give (a container, the file as it sees it, its
processes, the host file or `up`'s checked snapshot) and asserts the row and the finding. No
engine here: the real-engine side is tests/integration/test_verify_*.py.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from titan_deploy.core.containers import ARCHIVE, INODE, PROC_ROOT, ContainerInfo, FileStat, Process
from titan_deploy.core.overlay import Mount, OverlayPlan, ServicePlan
from titan_deploy.core.timespec import parse_timestamp
from titan_deploy.core.verify import Facts, HostFile, Identity, verify

STARTED = "2026-01-02T03:04:05.123456789Z"
T0 = parse_timestamp(STARTED)
assert T0 is not None
OLD = T0 - 3600  # before the container started
LATER = T0 + 60  # after it started
VALUE = b"canary-" + b"k3Jd8sLq0ZpX7vNc2MbWfR9tYhG4eUa1"
OTHER = b"canary-" + b"Q8wE2rT6yU0iO4pA9sD3fG7hJ1kL5zXc"
PATH = "/run/secrets/api_token"
GID = 10500


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MOUNT = Mount(
    source="api_token", secret="api_token", version=None, target="api_token", env="API_TOKEN_FILE"
)
DB = Mount(
    source="db_password",
    secret="db_password",
    version=None,
    target="db_password",
    env="DB_PASSWORD_FILE",
)
PLAN = OverlayPlan(
    services=(ServicePlan("app", (MOUNT, DB)),),
    files=(("api_token", "./secrets/api_token"), ("db_password", "./secrets/db_password")),
    group_add=GID,
)


def container(**changes) -> ContainerInfo:
    base = ContainerInfo(
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
        group_add=(str(GID),),
        env={"API_TOKEN_FILE": PATH, "DB_PASSWORD_FILE": "/run/secrets/db_password"},
        command=("app", "--serve"),
        labels={"com.docker.compose.service": "app"},
        healthcheck=("CMD", "true"),
        pid=4242,
        mounts=(PATH, "/run/secrets/db_password"),
    )
    return replace(base, **changes)


def seen(path: str = PATH, data: bytes = VALUE, method: str = PROC_ROOT, **changes) -> FileStat:
    """The file as the container sees it (root:GID 0640 unless changed)."""
    fields = {
        "path": path,
        "exists": True,
        "sha256": sha(data),
        "size": len(data),
        "uid": 0,
        "gid": GID,
        "mode": 0o640,
        "method": method,
    }
    if method in (PROC_ROOT, INODE):
        fields |= {"dev": 64, "ino": 1001 if path == PATH else 1002, "ctime": OLD}
    return FileStat(**(fields | changes))


def host(data: bytes = VALUE, ino: int = 1001, **changes) -> HostFile:
    return HostFile(
        **({"sha256": sha(data), "mtime": OLD, "ctime": OLD, "dev": 64, "ino": ino} | changes)
    )


def app_process(pid: int = 7, **changes) -> Process:
    fields = {
        "pid": pid,
        "comm": "app",
        "uid": 1000,
        "gid": 1000,
        "groups": frozenset({1000, GID}),
        "dac_override": False,
        "argv": ("app", "--serve"),
        "env_names": frozenset({"API_TOKEN_FILE", "DB_PASSWORD_FILE", "PATH"}),
    }
    return Process(**(fields | changes))


def facts(
    info: ContainerInfo | None = None,
    files: dict[str, FileStat] | None = None,
    hosts: dict[str, HostFile] | None = None,
    processes: tuple[Process, ...] | None = (),
    **changes,
) -> Facts:
    info = info or container()
    files = (
        files
        if files is not None
        else {PATH: seen(), DB.container_path: seen(DB.container_path, OTHER)}
    )
    procs = (app_process(),) if processes == () else processes
    return Facts(
        plan=PLAN,
        containers={"app": [info]},
        files={(info.id, path): stat for path, stat in files.items()},
        host=hosts
        if hosts is not None
        else {"api_token": host(), "db_password": host(OTHER, 1002)},
        identities={info.id: Identity(uid=1000, gid=1000, groups=frozenset({GID}), name="app")},
        values={"api_token": VALUE, "db_password": OTHER},
        processes={info.id: procs} if procs is not None else {},
        **changes,
    )


def rows(f: Facts) -> tuple[dict[str, dict], list]:
    got, findings = verify(f)
    return {r["secret"]: r for r in got}, findings


def assert_no_value(findings, table) -> None:
    text = repr([f.to_dict() for f in findings]) + repr(table)
    for value in (VALUE, OTHER):
        for needle in (value, base64.b64encode(value), value.hex().encode(), value[7:19]):
            assert needle.decode() not in text


def test_all_good_proc_root_proves_every_pair() -> None:
    table, findings = rows(facts())
    assert findings == []
    for row in table.values():
        assert row["method"] == "proc-root"
        assert not row["problem"]
        assert all(row[c] for c in ("mounted", "content", "readable", "env", "running", "no_leak"))


# --- class 1: stale mount ------------------------------------------------------------------------


def test_renamed_host_file_with_old_mtime_is_a_stale_mount() -> None:
    """rsync -a / cp -p + mv / tar x / install -p: new inode on the host, old mtime; the
    container still holds the old inode and content (its own view says so)."""
    new_host = host(OTHER, ino=2001, mtime=OLD, ctime=LATER)
    table, findings = rows(facts(hosts={"api_token": new_host, "db_password": host(OTHER, 1002)}))
    row = table["api_token"]
    assert row["content"] is False and row["method"] == "proc-root"
    assert "proj-app-1: /run/secrets/api_token differs from the host file" in row["problem"]
    assert [f.code for f in findings] == ["V002"]
    assert not table["db_password"]["problem"]
    assert_no_value(findings, table)


def test_in_place_write_with_old_mtime_is_named_by_ctime() -> None:
    """cp -p onto the file itself: same inode (the container sees the new content), the mtime
    put back; only the ctime tells that the service read something else at start."""
    stat = seen(ctime=LATER)
    table, _ = rows(facts(files={PATH: stat, DB.container_path: seen(DB.container_path, OTHER)}))
    assert table["api_token"]["content"] is False
    assert (
        "changed after the container started (content, owner or mode)"
        in table["api_token"]["problem"]
    )


def test_inode_method_compares_device_and_inode() -> None:
    stale = seen(method=INODE, sha256="", ino=999)
    table, _ = rows(
        facts(files={PATH: stale, DB.container_path: seen(DB.container_path, OTHER, method=INODE)})
    )
    assert table["api_token"]["method"] == "inode"
    assert "is another file (device/inode) than the host file" in table["api_token"]["problem"]
    assert table["db_password"]["method"] == "inode" and not table["db_password"]["problem"]


def test_archive_fallback_uses_the_host_ctime() -> None:
    """The archive API may re-read the host path (same hash); a rename keeping the old mtime
    still sets the new inode's ctime: the pair fails, and the row says how it was judged."""
    files = {
        PATH: seen(method=ARCHIVE, data=OTHER),
        DB.container_path: seen(DB.container_path, OTHER, method=ARCHIVE),
    }
    renamed = host(OTHER, ino=2001, mtime=OLD, ctime=LATER)
    table, _ = rows(
        facts(files=files, hosts={"api_token": renamed, "db_password": host(OTHER, 1002)})
    )
    assert table["api_token"]["method"] == "archive+ctime"
    assert table["api_token"]["content"] is False
    assert "after the container started" in table["api_token"]["problem"]
    assert not table["db_password"]["problem"]


# --- class 2: the file is ignored because X is set -----------------------------------------------


@pytest.mark.parametrize(
    ("env_var", "base"),
    [
        ("API_TOKEN_FILE", "API_TOKEN"),
        ("GF_SECURITY_ADMIN_PASSWORD__FILE", "GF_SECURITY_ADMIN_PASSWORD"),
    ],
)
def test_x_beside_x_file_fails_the_pair(env_var: str, base: str) -> None:
    mount = replace(MOUNT, env=env_var)
    plan = replace(PLAN, services=(ServicePlan("app", (mount, DB)),))
    env = {env_var: PATH, "DB_PASSWORD_FILE": DB.container_path, base: ""}
    f = facts(info=container(env=env), processes=(app_process(env_names=frozenset(env)),))
    f.plan = plan
    table, findings = rows(f)
    assert table["api_token"]["env"] is False
    assert (
        f"{base} is set beside {env_var}: the service ignores the file"
        in table["api_token"]["problem"]
    )
    assert [x.severity for x in findings if x.code == "V007"] == ["error"]
    assert not table["db_password"]["problem"]  # the other pair is fine


def test_unrelated_file_var_with_its_base_set_is_only_a_warning() -> None:
    env = container().env | {"LOG_CONFIG_FILE": "/etc/app/log.conf", "LOG_CONFIG": "x"}
    table, findings = rows(facts(info=container(env=env)))
    assert [(x.code, x.severity) for x in findings] == [("V007", "warning")]
    assert all(not r["problem"] for r in table.values())


def test_file_var_pointing_where_nothing_is_mounted_is_an_error() -> None:
    env = container().env | {"REDIS_PASSWORD_FILE": "/run/secrets/redis_password"}
    table, findings = rows(facts(info=container(env=env)))
    assert [x.code for x in findings] == ["V008"]
    for row in table.values():  # a service-level problem: every row of the service says so
        assert row["env"] is False
        assert (
            "REDIS_PASSWORD_FILE points at /run/secrets/redis_password, where nothing is mounted"
            in row["problem"]
        )


def test_file_of_the_image_is_not_a_mount() -> None:
    info = container(mounts=("/run/secrets/db_password",))
    table, _ = rows(facts(info=info))
    assert table["api_token"]["mounted"] is False
    assert "is a file of the image, not mounted" in table["api_token"]["problem"]


# --- class 3: readable by the process that reads ------------------------------------------------


def test_process_that_dropped_the_secrets_group_cannot_read() -> None:
    worker = app_process(pid=31, comm="php-fpm", uid=33, gid=33, groups=frozenset({33}))
    master = app_process(pid=1, comm="php-fpm", uid=0, gid=0, groups=frozenset(), dac_override=True)
    table, findings = rows(facts(processes=(master, worker)))
    row = table["api_token"]
    assert row["readable"] is False and row["method"] == "proc-root"
    assert "unreadable by its process pid 31 (php-fpm: uid 33, gid 33, groups 33)" in row["problem"]
    assert "pid 1 " not in row["problem"]
    assert {f.code for f in findings} == {"V003"}


def test_root_without_dac_capabilities_reads_by_mode_bits() -> None:
    capless = app_process(pid=5, uid=0, gid=0, groups=frozenset(), dac_override=False)
    stat = seen(uid=1000, gid=GID, mode=0o600)
    files = {PATH: stat, DB.container_path: seen(DB.container_path, OTHER)}
    table, _ = rows(facts(files=files, processes=(capless,)))
    assert table["api_token"]["readable"] is False
    assert table["db_password"]["readable"] is True  # 0:GID 0640: root is the owner


def test_processes_that_do_not_name_the_file_are_not_judged() -> None:
    """The official postgres image reads the file as root, unsets POSTGRES_PASSWORD_FILE, then
    runs as postgres: that server never opens the file. Readability then falls back to the
    configured user, and the row says so."""
    server = app_process(uid=101, gid=103, groups=frozenset(), env_names=frozenset({"PATH"}))
    info = container(user="")
    f = facts(info=info, processes=(server,))
    f.identities = {info.id: Identity(uid=0, gid=0, name="root")}
    table, findings = rows(f)
    assert findings == []
    assert table["api_token"]["method"] == "proc-root+config-user"


def test_no_process_list_falls_back_to_the_configured_user() -> None:
    f = facts(processes=None)
    f.identities = {"c1": Identity(uid=1000, gid=1000, name="app")}  # group_add lost
    table, _ = rows(f)
    assert table["api_token"]["readable"] is False
    assert table["api_token"]["method"] == "proc-root+config-user"
    assert "unreadable by its user app (uid 1000" in table["api_token"]["problem"]


def test_unknown_environment_counts_as_a_reader() -> None:
    ps = app_process(pid=9, comm="worker", uid=33, gid=33, groups=frozenset(), env_names=None)
    table, _ = rows(facts(processes=(ps,)))
    assert "pid 9 (worker: uid 33" in table["api_token"]["problem"]


# --- class 4: values outside environment: ---------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "changes", "process"),
    [
        ("process 77 (redis-server) argv", {}, ("redis-server", "--requirepass", VALUE.decode())),
        ("healthcheck arg 2", {"healthcheck": ("CMD", "check", VALUE.decode())}, None),
        ("label secret", {"labels": {"secret": base64.b64encode(VALUE).decode()}}, None),
        ("command arg 1", {"command": ("app", f"--token={VALUE.decode()}")}, None),
    ],
)
def test_value_outside_environment_is_flagged(place, changes, process) -> None:
    procs = (app_process(),)
    if process is not None:
        procs += (app_process(pid=77, comm="redis-server", argv=process),)
    table, findings = rows(facts(info=container(**changes), processes=procs))
    leaks = [f for f in findings if f.code == "V006"]
    assert [(f.secret, f.message) for f in leaks] == [
        ("api_token", f"proj-app-1: the value of api_token appears in its {place}")
    ]
    assert table["api_token"]["no_leak"] is False
    assert table["db_password"]["no_leak"] is True
    assert_no_value(findings, table)


def test_leak_of_a_secret_the_service_does_not_mount_fails_every_row() -> None:
    f = facts(processes=(app_process(argv=("app", "--key", "zz" + VALUE.decode())),))
    f.values = {"grafana_admin_password": VALUE}
    table, _ = rows(f)
    assert all(r["no_leak"] is False for r in table.values())


# --- issue 9 class 3: checked is what is deployed ------------------------------------------------


def test_container_content_is_compared_with_the_checked_snapshot() -> None:
    """A swap between check-secrets and compose: the container and the host now agree, but
    neither is what check-secrets passed."""
    swapped = host(OTHER, ino=3001)
    f = facts(
        files={PATH: seen(data=OTHER, ino=3001), DB.container_path: seen(DB.container_path, OTHER)},
        hosts={"api_token": swapped, "db_password": host(OTHER, 1002)},
        checked={"api_token": host(), "db_password": host(OTHER, 1002)},
    )
    table, _ = rows(f)
    problem = table["api_token"]["problem"]
    assert "changed after check-secrets passed it" in problem
    assert "differs from the host file check-secrets passed" in problem
    assert not table["db_password"]["problem"]


def test_symlink_out_of_the_secrets_dir_fails_even_with_equal_content() -> None:
    outside = host(problem="is a symlink resolving outside the secrets dir")
    table, _ = rows(facts(hosts={"api_token": outside, "db_password": host(OTHER, 1002)}))
    assert table["api_token"]["content"] is False
    assert (
        "api_token is a symlink resolving outside the secrets dir" in table["api_token"]["problem"]
    )


def test_missing_container_fails_every_check_and_proves_nothing() -> None:
    f = facts()
    f.containers = {}
    table, _ = rows(f)
    assert all(r["method"] == "" and r["mounted"] is False for r in table.values())


@pytest.mark.parametrize(
    "changes, place",
    [
        ({"env": {"API_TOKEN_FILE": PATH, f"V{VALUE.decode()}": "1"}}, "env var names"),
        ({"labels": {f"tok.{VALUE.decode()}": "x"}}, "label names"),
    ],
)
def test_a_value_pasted_as_an_env_or_label_name_is_a_leak(changes: dict, place: str) -> None:
    """A name is text `docker inspect` shows like any value: a secret there is a leak (V006)."""
    _rows, found = verify(facts(container(**changes)))
    leaks = [f for f in found if f.code == "V006"]
    assert [f.secret for f in leaks] == ["api_token"] and place in leaks[0].message
    assert VALUE.decode() not in repr([f.message for f in found])
