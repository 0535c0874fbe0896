"""`verify` reads each container once (issue 15): one list call, one inspect per consumer
container, and — on the engine's own host, as root — nothing else from the engine: the files,
the processes and, for a consumer whose processes name no file, the configured user's
/etc/passwd and /etc/group come from the container's own view (/proc). What is read that way
is what the archive API reads, so every check still runs on the same facts."""

from __future__ import annotations

import pytest

from tests.integration.stackkit import LOOP
from titan_deploy.io.engine import Engine, connect
from titan_deploy.ops import stack as stack_ops
from titan_deploy.ops.verify import verify_report
from titan_deploy.project import Project

pytestmark = pytest.mark.docker

SDK_CALLS = ("containers", "inspect_container", "get_archive", "top", "exec_create")


def counted(engine: Engine) -> dict[str, int]:
    """Count the engine calls `engine` makes from now on (SDK and io/enginehttp)."""
    calls = dict.fromkeys([*SDK_CALLS, "get_json"], 0)
    api = engine.client.api

    def wrap(owner, name: str) -> None:
        original = getattr(owner, name)

        def call(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        setattr(owner, name, call)

    for name in SDK_CALLS:
        wrap(api, name)
    if engine._lean is not None:
        wrap(engine._lean, "get_json")
    return calls


def test_verify_reads_each_container_once_through_its_own_view(stack) -> None:
    s = stack()
    # the reader's processes drop DB_PASSWORD_FILE (and no healthcheck process, which would
    # carry it, runs there): readability falls back to the configured user, whose passwd and
    # group verify must read (here through /proc, not the archive API)
    s.edit_compose(
        lambda doc: doc["services"]["reader"].update(
            command=["env", "-u", "DB_PASSWORD_FILE", "sh", "-c", LOOP],
            healthcheck={"disable": True},
        )
    )
    assert s.td("render").returncode == 0, s.outputs[-1]  # compose --wait needs healthchecks
    started = s.compose("up", "-d", "--scale", "signer=3")
    assert started.returncode == 0, started.stderr
    project = Project(project_dir=s.root, project_name=s.name)
    engine = connect()
    assert engine.local_reason == "", engine.local_reason  # root on the engine's host
    calls = counted(engine)
    report = verify_report(project, engine)
    assert report.ok, [f.message for f in report.errors]
    assert {r["service"]: r["containers"] for r in report.rows} == {"signer": 3, "reader": 1}
    reader = next(r for r in report.rows if r["service"] == "reader")
    assert reader["method"] == "proc-root+config-user"
    inspects = calls["inspect_container"] + calls["get_json"]
    assert (calls["containers"], inspects) == (1, 4)
    assert calls["get_archive"] == calls["top"] == calls["exec_create"] == 0


def test_identity_from_the_containers_own_view_is_the_archives(stack) -> None:
    s = stack()
    assert s.td("up", "--timeout", "60").returncode == 0, s.outputs[-1]
    local = connect()
    infos = local.containers(s.name)
    remote = Engine(local.client, local=False)
    through_proc = stack_ops.identities(local, infos)
    through_archive = stack_ops.identities(remote, infos)
    assert through_proc == through_archive
    assert {i.uid for i in through_proc.values()} == {0, 1000}
