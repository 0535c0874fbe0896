"""Shared fixtures: a temp copy of the Titan project, valid random secret values, the CLI runner.

Everything happens under tmp_path; nothing here touches the repository's own secrets/.
"""

from __future__ import annotations

import os
import secrets as pyrandom
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from titan_deploy.core.manifest import Manifest, SecretSpec, load_manifest

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("secrets.manifest.yml", "docker-compose.prod.yml", "docker-compose.secrets.yml")


def random_value(spec: SecretSpec) -> bytes:
    """A fresh valid value of the secret's kind (a canary: it must never show up in output)."""
    if spec.kind == "hex":
        return pyrandom.token_hex(spec.bytes or 32).encode()
    if spec.kind == "pem":
        from tests.pemkit import ed25519_pem

        return ed25519_pem()
    if spec.multiline:
        lines = [f"line{i} = {pyrandom.token_urlsafe(24)}" for i in range(3)]
        return ("\n".join(lines) + "\n").encode()
    value = pyrandom.token_urlsafe(max(spec.min_length, 32))
    return value.encode()


def write_secret(path: Path, value: bytes, gid: int | None) -> None:
    path.write_bytes(value)
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, 0o640 if gid is not None else 0o600)


def fill_store(project_dir: Path, manifest: Manifest, values: dict[str, bytes]) -> Path:
    """Write `values` into the project's secrets dir with the modes the manifest asks for."""
    gid = manifest.secrets_gid
    store = project_dir / manifest.secrets_dir
    store.mkdir(exist_ok=True)
    if gid is not None:
        os.chown(store, -1, gid)
    os.chmod(store, 0o750 if gid is not None else 0o700)
    for name, value in values.items():
        write_secret(store / name, value, gid)
    return store


def require(condition: bool, why: str) -> None:
    """Skip when `condition` is false on a developer machine; FAIL in CI (`CI` or
    TITAN_REQUIRE_DOCKER set), where .ci/run installs every tool a test needs: a missing tool
    must never hide a test there."""
    if condition:
        return
    if os.environ.get("CI") or os.environ.get("TITAN_REQUIRE_DOCKER"):
        pytest.fail(f"required in CI: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def titan_project(tmp_path: Path) -> Path:
    """A temp copy of the repository's project files (manifest, compose files, examples)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(REPO / "secrets.example", project / "secrets.example")
    # config templates (README "Config files"): templates/*.conf.j2
    (project / "templates").mkdir()
    for template in ("redis.conf.j2", "nats_auth.conf.j2"):
        shutil.copy2(REPO / "templates" / template, project / "templates" / template)
    return project


@pytest.fixture
def titan_values(titan_project: Path) -> dict[str, bytes]:
    """Random valid values for every secret of the Titan manifest (a config is rendered from
    them by `render`/`up`, never written here)."""
    manifest = load_manifest(titan_project / "secrets.manifest.yml")
    return {n: random_value(spec) for n, spec in manifest.secrets.items() if not spec.is_config}


@pytest.fixture
def ready_project(titan_project: Path, titan_values: dict[str, bytes]) -> Path:
    """The Titan project with a complete, valid secrets dir: check-secrets exits 0."""
    manifest = load_manifest(titan_project / "secrets.manifest.yml")
    fill_store(titan_project, manifest, titan_values)
    return titan_project


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the typer app in-process: cli("-C", dir, "--json", "render")."""
    from titan_deploy.cli.app import app

    runner = CliRunner()

    def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)

    return invoke


# Session fixtures that start something costly and keep it running (a stack, dockerds): every
# file that uses one runs on the worker that started it. Their order is the order in which their
# groups are queued (_schedule_rank): the longest first.
SHARED_SESSION_FIXTURES = ("rotation_demo", "netns_lab", "demo_stack")


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]):
    """The xdist groups of `make test` (`--dist loadgroup`): each test file is one group, so it
    runs whole on one worker and its module fixtures start once; the files that use one of
    SHARED_SESSION_FIXTURES (directly or through another fixture) are in one group with every
    other user of it, so one worker starts it, not each: an idle demo stack costs about a third
    of a core for the whole run. A hook wrapper: it marks before any plain hook runs, xdist's
    included, which turns the marks into the scheduling scopes (tryfirst did not order it
    before xdist's, and the groups were silently ignored)."""
    shared_by_file: dict[Path, set[str]] = {}
    for item in items:
        used = set(getattr(item, "fixturenames", ())) & set(SHARED_SESSION_FIXTURES)
        shared_by_file.setdefault(item.path, set()).update(used)
    group_of = _file_groups(shared_by_file)
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group_of[item.path]))
    items[:] = sorted(items, key=lambda item: _schedule_rank(item, group_of[item.path]))
    yield


# `make test` hands the groups to the workers in collection order (--no-loadscope-reorder): the
# long ones first, so the many short files fill the end and no worker idles while the other
# finishes a long group. Long: the groups of the shared stacks and lab, the engine files, and
# these few files outside tests/integration (minutes each on a loaded CI machine).
SLOW_FILES = (
    "tests/integration/test_rotation_nats.py",
    "tests/integration/test_rotation_nats_abort.py",
    "tests/integration/test_backend_agent_demo.py",
    "tests/unit/ops/rotate/test_rotation_manifest_change.py",
    "tests/cli/test_hostile_fuzz.py",
)


def _schedule_rank(item: pytest.Item, group: str) -> tuple[int, int]:
    """Where `item`'s group goes in the queue: shared groups, then the slow files, then the
    other engine files, then everything else; a stable sort keeps each file's own order."""
    path = item.path.as_posix()
    if not group.startswith("/"):
        return (0, SHARED_SESSION_FIXTURES.index(group.split("+")[0]))
    slow = [i for i, name in enumerate(SLOW_FILES) if path.endswith(name)]
    if slow:
        return (1, slow[0])
    return (2 if "/tests/integration/" in path else 3, 0)


def _file_groups(shared_by_file: dict[Path, set[str]]) -> dict[Path, str]:
    """File -> group name: files joined by a shared fixture (transitively) share a group, named
    after its fixtures; any other file is a group of its own (its path)."""
    fixture_group: dict[str, set[str]] = {}
    for used in shared_by_file.values():
        merged = set(used).union(*(fixture_group.get(f, set()) for f in used))
        for fixture in merged:
            fixture_group[fixture] = merged
    return {
        path: "+".join(sorted(fixture_group[next(iter(used))])) if used else str(path)
        for path, used in shared_by_file.items()
    }


# --- shared session resources are closed as soon as their last user has run -----------------

_CLOSERS: dict[str, Callable[[], None]] = {}
_USERS_LEFT: dict[str, int] = {}


def close_after_last_user(fixture: str, close: Callable[[], None]) -> Callable[[], None]:
    """Register `close` (a session fixture's teardown) to run once, right after the last test
    that uses `fixture` (one of SHARED_SESSION_FIXTURES) has been torn down, instead of when the
    worker's session ends: an idle stack's healthchecks cost a third of a core until then.
    Returns the closer, idempotent, for the fixture's own teardown (a run cut short)."""
    closed: list[bool] = []

    def once() -> None:
        if not closed:
            closed.append(True)
            close()

    _CLOSERS[fixture] = once
    return once


def pytest_collection_finish(session: pytest.Session) -> None:
    """How many of the tests this run will run use each shared fixture. Every user of one is
    in one xdist group (above), so the worker that starts it runs them all."""
    for fixture in SHARED_SESSION_FIXTURES:
        _USERS_LEFT[fixture] = sum(
            fixture in getattr(item, "fixturenames", ()) for item in session.items
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    yield  # the test's own fixtures (its module's too, when it was the module's last) first
    for fixture in set(getattr(item, "fixturenames", ())) & _USERS_LEFT.keys():
        _USERS_LEFT[fixture] -= 1
        if _USERS_LEFT[fixture] == 0 and fixture in _CLOSERS:
            _CLOSERS.pop(fixture)()
