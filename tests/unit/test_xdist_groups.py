"""`make test`'s xdist groups (tests/conftest.py): the files that share a session stack run on
one worker, every other file runs whole on one worker. A pytest upgrade once made xdist ignore
the groups without a word (pytest-dev/pytest-xdist#1386): then each worker started its own
copy of every shared stack and split files whose tests depend on each other's order."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import _file_groups


def test_files_sharing_a_fixture_share_a_group_transitively() -> None:
    a, b, c, d = (Path(f"/t/test_{x}.py") for x in "abcd")
    groups = _file_groups(
        {a: {"demo_stack"}, b: {"demo_stack", "netns_lab"}, c: {"netns_lab"}, d: set()}
    )
    assert groups[a] == groups[b] == groups[c] == "demo_stack+netns_lab"
    assert groups[d] == str(d)


def test_under_make_test_the_scheduler_sees_this_files_group(request) -> None:
    """Under xdist's loadgroup (as `make test` runs) a node id carries its group after `@`: the
    only form the scheduler reads. Outside xdist there is no scheduler, and no suffix."""
    scheduled = bool(os.environ.get("PYTEST_XDIST_WORKER")) and request.config.getvalue("loadgroup")
    suffix = "@" + str(Path(__file__).resolve())
    assert request.node.nodeid.endswith(suffix) == scheduled, request.node.nodeid


def test_the_long_groups_are_queued_first() -> None:
    from types import SimpleNamespace

    from tests.conftest import _schedule_rank

    def rank(path: str, group: str | None = None) -> tuple[int, int]:
        return _schedule_rank(SimpleNamespace(path=Path(path)), group or path)  # type: ignore[arg-type]

    order = [
        rank("/r/tests/integration/test_rotation_hmac.py", "rotation_demo"),
        rank("/r/tests/integration/test_swarm_nodes.py", "netns_lab"),
        rank("/r/tests/integration/test_rotation_nats.py"),
        rank("/r/tests/unit/ops/rotate/test_rotation_manifest_change.py"),
        rank("/r/tests/integration/test_engine_stack.py"),
        rank("/r/tests/unit/core/test_configs.py"),
    ]
    assert order == sorted(order) and len(set(order)) == len(order)
