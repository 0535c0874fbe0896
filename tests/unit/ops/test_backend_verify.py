"""verify on the agent path (ops/backend_verify.py, `verify_report(expected=...)`): the
reference each container file is compared with is the digest of the KV version it is pinned to,
read from the backend, not the host file; a pinned version the backend lacks is one exit-3
line. Against the fake engine (tests/fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeCompose, FakeEngine
from titan_deploy.core.backend import BackendConfig, Stored
from titan_deploy.errors import RuntimeFailure
from titan_deploy.ops.backend_verify import expected_from_backend
from titan_deploy.ops.render import current_plan, run_render
from titan_deploy.ops.verify import verify_report
from titan_deploy.project import Project

DB = "titan_db_password"


class VersionedBackend:
    """A SecretBackend in a dict: each entry's versions, numbered from 1."""

    def __init__(self, entries: dict[str, list[bytes]]) -> None:
        self.config = BackendConfig(type="openbao", address="http://x:8200")
        self.entries = entries

    def read(self, secret: str) -> Stored | None:
        return self.read_version(secret, "")

    def read_version(self, secret: str, version: str) -> Stored | None:
        versions = self.entries.get(secret, [])
        number = int(version) if version else len(versions)
        if not 1 <= number <= len(versions):
            return None
        return Stored(versions[number - 1], str(number))

    def write(self, secret: str, value: bytes, previous: Stored | None) -> str:
        self.entries.setdefault(secret, []).append(value)
        return str(len(self.entries[secret]))

    def hold(self, secret: str, versions) -> None:  # type: ignore[no-untyped-def]
        """Nothing to hold: a dict loses no version."""

    def pin_states(self, secret: str, versions) -> list:  # type: ignore[no-untyped-def]
        """A pinned version past the entry's versions is missing (core/backendhold.py)."""
        from titan_deploy.core.backendhold import PinState

        have = len(self.entries.get(secret, []))
        return [PinState(v, "missing", True) for v in versions if not 1 <= int(v) <= have]


@pytest.fixture
def project(ready_project: Path) -> Project:
    return Project(project_dir=ready_project, project_name="tdfake")


def deployed(project: Project) -> tuple[FakeEngine, dict[str, list[bytes]]]:
    """The fake stack up on the local files, and a backend holding those values (version 1)."""
    engine = FakeEngine()
    run_render(project)
    FakeCompose(engine, project).up(60)
    files = {s.name: s.path_in(project.secrets_dir) for s in project.manifest.secrets.values()}
    return engine, {name: [path.read_bytes()] for name, path in files.items() if path.is_file()}


def files_of(project: Project) -> dict[str, str]:
    return {s.name: s.file_name for s in project.manifest.secrets.values()}


def test_verify_compares_the_containers_with_the_pinned_kv_version(project: Project) -> None:
    engine, entries = deployed(project)
    backend = VersionedBackend(entries)
    plan = current_plan(project)
    entries[DB].append(b"a-newer-central-value-" + b"x" * 16)  # version 2
    same = expected_from_backend(backend, plan, {DB: {"base": 1}}, files_of(project))
    assert verify_report(project, engine, plan=plan, expected=same).ok
    newer = expected_from_backend(backend, plan, {DB: {"base": 2}}, files_of(project))
    report = verify_report(project, engine, plan=plan, expected=newer)
    failed = {(r["service"], r["secret"]) for r in report.rows if r["problem"]}
    consumers = {c.service for c in project.manifest.secrets[DB].consumers}
    assert failed == {(service, DB) for service in consumers}
    assert {f.code for f in report.errors} == {"V002"}
    # unpinned: the latest version (2) is the reference
    latest = expected_from_backend(backend, plan, {}, files_of(project))
    assert not verify_report(project, engine, plan=plan, expected=latest).ok


def test_a_pinned_version_the_backend_lacks_is_one_line(project: Project) -> None:
    _engine, entries = deployed(project)
    backend = VersionedBackend(entries)
    with pytest.raises(RuntimeFailure, match=r"openbao:secret/titan/titan_db_password: has no "):
        expected_from_backend(backend, current_plan(project), {DB: {"base": 9}}, files_of(project))
