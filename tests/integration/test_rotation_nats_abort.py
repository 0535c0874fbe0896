"""`rotate nats` killed (SIGKILL) after EVERY step boundary, then `rotate abort`, on the real
engine (issue 12: "kill -9 at every step boundary then resume and abort"; the resume side on
the full demo: test_rotation_nats.py).

On the NATS lab (tests/integration/natslab): the demo's real nats-server, reloaded onto the
rendered users line, and two stand-in NATS clients, each consuming the user and the password
with a log proof as every Titan client does. Its plan is the Titan stack's with two clients
instead of six; the procedure treats every client alike but for its place (a rollback takes back
the clients that moved, last first), so every kind of boundary of the Titan plan (32 steps) is
one of the lab's 20 (lab step -> Titan steps):

    1-3   new user, new password, overlap config written     -> 1-3
    4-6   server reloaded onto the overlap, verified, proved -> 4-6
    7-9   a client moved, verified, proved; others not yet   -> 7-21   (titan-brain .. hunter)
    10-12 the last client moved, verified, proved: all moved -> 22-24  (titan-ai-quant)
    13-16 final config written, server reloaded onto it      -> 25-28
    17-20 cleanup: base files synced, versions removed       -> 29-32

Before cleanup (1-16), every boundary is aborted: back on the old credential (files, journal,
a fresh login accepted), the server never recreated, and not one login refused (nats-server's
log) nor one connect, publish or login failed (every client container's counters, read after
the kill and after the abort: the abort replaces each moved client once). After the boundary
with the longest rollback (the server reloaded onto the final config), the abort itself is
killed after every rollback step, and `rotate abort` run again. From the first cleanup step on,
abort is refused (exit 2) at every boundary, naming `rotate resume`, which completes.

Each boundary is one forward run from the start (the previous abort left the old credential)
and one abort, each recreating every client moved so far (~2 s each): the cost grows with the
square of the clients, hence two, not six (a third, in the middle, adds no kind of boundary and
~40% to the time)."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.integration import natskit
from tests.integration.natskit import CLEANUP, CRASH, assert_no_secret, creds, refusals, server
from tests.integration.rotation_kit import (
    assert_consistent,
    container_logs,
    docker_client,
    journal,
    remember_values,
)
from tests.integration.stackkit import Stack
from tests.paths import REPO

pytestmark = pytest.mark.docker

LAB = REPO / "tests" / "integration" / "natslab"
CLIENTS = {"client-1": 8083, "client-2": 8083}
# the guard reads counters after each verify; nothing here needs it to wait for traffic first
# (this test reads every client's counters itself). The tool runs through Stack.td, not
# rotation_kit.run_td: nothing here asserts on the argv it samples, which costs CPU every 50 ms.
QUICK = ["--stop-timeout", "1", "--settle", "0"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, demo_images):
    """The lab under a random project name, from a temp copy (the repo's nats_auth template),
    on the stand-in image of these sources (natskit.pin_standin), every client publishing."""
    name = f"tdtest-natslab-{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp("natslab") / name
    shutil.copytree(LAB, root)
    (root / "templates").mkdir()
    shutil.copy2(REPO / "templates" / "nats_auth.conf.j2", root / "templates")
    stack = Stack(root=root, name=name, image=natskit.STANDIN)
    tag = natskit.pin_standin(stack, root / "docker-compose.yml")
    try:
        assert stack.td("init").returncode == 0
        up = stack.td("up", "--timeout", "240")
        assert up.returncode == 0, up.output[-3000:]
        natskit.publishing(stack, CLIENTS)
        yield stack
    finally:
        stack.down()
        docker_client().images.remove(tag)  # the tag only


def test_nats_killed_at_every_boundary_before_cleanup_then_aborted(lab):
    s = lab
    nats_id = server(s).id
    remember_values(s)
    before, old, refused = moved(journal(s)), creds(s, "client-1"), refusals(s)
    seen = natskit.failures(s, CLIENTS)
    steps = plan(s)
    cleanup = next(i for i, action in enumerate(steps, 1) if action in CLEANUP)
    # the longest rollback: the server on the final config (back onto the overlap first)
    deepest = max(i for i in range(1, cleanup) if steps[i - 1] == "repoint")
    for k in range(1, cleanup):
        crashed = s.td("rotate", "nats", *QUICK, env={CRASH: str(k)})
        assert crashed.returncode == -9, (k, crashed.output[-3000:])
        assert journal(s)["active"]["done"] == k
        remember_values(s)
        natskit.failures(s, CLIENTS, seen)  # every container alive now, before abort replaces it
        if k == deepest:
            abort_killed_at_every_rollback_boundary(s, seen, refused)
        aborted = s.td("--json", "rotate", "abort", *QUICK)
        assert aborted.returncode == 0, (k, aborted.output[-3000:])
        assert json.loads(aborted.stdout)["data"]["outcome"] == "rolled back", k
        natskit.publishing(s, CLIENTS, at_least=1)
        natskit.failures(s, CLIENTS, seen)
        assert refusals(s) == refused, k  # not one login refused
        assert set(seen.values()) == {0}, k  # nor one connect, publish or login failed
        assert {creds(s, c) for c in CLIENTS} == {old}, k
        assert natskit.login(s, *old, via="client-1") == "ACCEPTED", k
        assert moved(assert_consistent(s)) == before, k  # and `verify` green
    assert server(s).id == nats_id  # reloaded, never recreated
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])


def moved(doc: dict) -> dict:
    """The journal's assignments other than the base file (an abort may name the base
    explicitly where no rotation had named anything: the same files mounted)."""
    base = {"version": None, "secondary": None, "key_id": None}
    out = {}
    for secret, services in (doc.get("assignments") or {}).items():
        for service, assignment in services.items():
            if assignment != base:
                out[(secret, service)] = assignment
    return out


def plan(stack) -> list[str]:
    """The actions of the rotation `rotate nats` would run now (its dry run)."""
    dry = stack.td("--json", "rotate", "nats", "--dry-run")
    assert dry.returncode == 0, dry.output[-3000:]
    return [row["action"] for row in json.loads(dry.stdout)["rows"] if row["phase"] == "forward"]


def abort_killed_at_every_rollback_boundary(s, seen: dict[str, float], refused: int) -> None:
    """`rotate abort` killed after rollback step 1, the next abort after step 2, ... after the
    last; at each boundary no login refused and every client container's counters read."""
    j = 0
    while True:
        j += 1
        killed = s.td("rotate", "abort", *QUICK, env={CRASH: f"rollback:{j}"})
        assert killed.returncode == -9, (j, killed.output[-3000:])
        active = journal(s)["active"]
        assert (active["mode"], active["done"]) == ("rollback", j)
        natskit.failures(s, CLIENTS, seen)
        assert refusals(s) == refused, j
        if j == len(active["steps"]):
            return


def test_nats_killed_at_every_cleanup_boundary_abort_is_refused_resume_completes(lab):
    """From the first cleanup step on (past the point of no return), each boundary: abort exit
    2 naming `rotate resume`, nothing changed; the next boundary is reached by `rotate resume`
    killed after the next step; the last resume completes onto the new credential."""
    s = lab
    remember_values(s)
    old, refused = creds(s, "client-1"), refusals(s)
    seen = natskit.failures(s, CLIENTS)
    steps = plan(s)
    cleanup = next(i for i, action in enumerate(steps, 1) if action in CLEANUP)
    op = ["rotate", "nats"]
    for k in range(cleanup, len(steps) + 1):
        crashed = s.td(*op, *QUICK, env={CRASH: str(k)})
        assert crashed.returncode == -9, (k, crashed.output[-3000:])
        op = ["rotate", "resume"]
        if k == cleanup:
            remember_values(s)
            natskit.failures(s, CLIENTS, seen)
        refused_abort = s.td("rotate", "abort", *QUICK)
        assert refused_abort.returncode == 2, (k, refused_abort.output[-3000:])
        assert "rotate resume" in refused_abort.output
        active = journal(s)["active"]
        assert (active["mode"], active["done"]) == ("forward", k)  # nothing changed
    done = s.td("--json", "rotate", "resume", *QUICK)
    assert done.returncode == 0, done.output[-3000:]
    assert json.loads(done.stdout)["data"]["outcome"] == "completed"
    natskit.publishing(s, CLIENTS, at_least=1)
    natskit.failures(s, CLIENTS, seen)
    assert refusals(s) == refused and set(seen.values()) == {0}
    new = creds(s, "client-1")
    assert new != old and {creds(s, c) for c in CLIENTS} == {new}
    assert natskit.login(s, *new, via="client-1") == "ACCEPTED"
    assert natskit.login(s, *old, via="client-1") == "connect refused: Authorization Violation"
    assert_consistent(s)
    assert_no_secret(s, [*s.outputs, container_logs(s.name)])
