"""ops/push.py, ops/pull.py, ops/check_backend.py against an in-memory backend (the real servers:
tests/integration/test_backend_servers.py): which file is the current value, what is written,
modes, and that a non-text value is a finding, not a crash."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest

from tests.projectkit import API_TOKEN, small_project
from titan_deploy.core.backend import BackendConfig, Stored
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import Journal
from titan_deploy.errors import ConfigError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.check_backend import run_check_backend
from titan_deploy.ops.pull import run_pull
from titan_deploy.ops.push import run_push
from titan_deploy.project import Project

MANIFEST = (
    API_TOKEN
    + """\
  db_password:
    kind: password
    file: db/password.txt
    consumers: {web: DB_PASSWORD_FILE}
backend: {type: aws-secretsmanager, region: us-east-1}
"""
)
BACKEND = "backend: {type: aws-secretsmanager, region: us-east-1}\n"


class MemoryBackend:
    """A SecretBackend in a dict: versions counted per entry."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.entries: dict[str, list[bytes]] = {}

    def read(self, secret: str) -> Stored | None:
        versions = self.entries.get(secret)
        return Stored(versions[-1], str(len(versions))) if versions else None

    def write(self, secret: str, value: bytes, previous: Stored | None) -> str:
        self.entries.setdefault(secret, []).append(value)
        return str(len(self.entries[secret]))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Project, MemoryBackend]:
    values = {name: secrets.token_urlsafe(24).encode() for name in ("api_token", "db/password.txt")}
    project = small_project(tmp_path, MANIFEST, values)
    assert project.manifest.backend is not None
    return project, MemoryBackend(project.manifest.backend)


def opener(backend: MemoryBackend):  # type: ignore[no-untyped-def]
    return lambda config, base: backend


def test_push_sends_the_version_consumers_use(setup) -> None:
    project, backend = setup
    rotated = secrets.token_urlsafe(24).encode()
    (project.secrets_dir / "api_token.v2").write_bytes(rotated)
    (project.secrets_dir / "api_token.v2").chmod(0o600)
    journal_io.save(project, Journal(assignments={"api_token": {"web": Assignment(version=2)}}))
    report = run_push(project, opener=opener(backend))
    assert report.exit_code == 0
    assert backend.entries["api_token"] == [rotated]
    assert report.data["versions"] == {"api_token": 1, "db_password": 1}
    assert [r["action"] for r in run_push(project, opener=opener(backend)).rows] == [
        "unchanged",
        "unchanged",
    ]
    assert len(backend.entries["api_token"]) == 1


def test_dry_run_writes_nothing(setup) -> None:
    project, backend = setup
    report = run_push(project, dry_run=True, opener=opener(backend))
    assert [r["action"] for r in report.rows] == ["create", "create"]
    assert backend.entries == {}
    run_push(project, opener=opener(backend))
    (project.secrets_dir / "api_token").unlink()
    run_pull(project, dry_run=True, opener=opener(backend))
    assert not (project.secrets_dir / "api_token").exists()


def test_a_non_text_value_is_refused_not_a_crash(setup) -> None:
    project, backend = setup
    manifest = project.manifest_path
    manifest.write_text(manifest.read_text().replace("kind: token", "kind: text"))
    project = Project(project_dir=project.project_dir)
    (project.secrets_dir / "api_token").write_bytes(b"\xff" * 24)
    report = run_push(project, opener=opener(backend))
    assert report.exit_code == 1
    assert {r["secret"]: r["action"] for r in report.rows}["api_token"] == "refused"
    assert [f.code for f in report.findings] == ["S006"]
    assert "api_token" not in backend.entries


def test_pull_writes_files_in_subdirs_with_the_store_modes(setup) -> None:
    project, backend = setup
    run_push(project, opener=opener(backend))
    values = {n: v[-1] for n, v in backend.entries.items()}
    for path in (project.secrets_dir / "api_token", project.secrets_dir / "db/password.txt"):
        path.unlink()
    (project.secrets_dir / "db").rmdir()
    report = run_pull(project, opener=opener(backend))
    assert report.exit_code == 0 and report.summary == "wrote 2"
    for name, path in (("api_token", "api_token"), ("db_password", "db/password.txt")):
        file = project.secrets_dir / path
        assert file.read_bytes() == values[name]
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((project.secrets_dir / "db").stat().st_mode) == 0o700


def test_check_backend_reads_into_memory_only(setup) -> None:
    project, backend = setup
    backend.entries["api_token"] = [b"changeme"]
    before = sorted(p.name for p in project.project_dir.rglob("*"))
    report = run_check_backend(project, opener=opener(backend))
    assert sorted(p.name for p in project.project_dir.rglob("*")) == before
    codes = {(f.secret, f.code) for f in report.findings}
    assert codes == {("api_token", "S007"), ("db_password", "S001")}
    assert [r["status"] for r in report.rows] == ["findings", "missing"]


def test_no_backend_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST.split("backend:")[0])
    with pytest.raises(ConfigError, match="no `backend:`"):
        run_push(Project(project_dir=tmp_path))


def test_a_config_is_pushed_as_a_derived_entry_never_pulled_but_rendered_from_the_input(
    tmp_path: Path,
) -> None:
    from tests.projectkit import config_project
    from titan_deploy.ops.configs import write_configs

    project, value = config_project(tmp_path / "p", head=BACKEND)
    write_configs(project)
    backend = MemoryBackend(project.manifest.backend)  # type: ignore[arg-type]
    assert [r["secret"] for r in run_push(project, opener=opener(backend)).rows] == [
        "redis_password",
        "redis_conf",  # the rendered config, a derived entry (ops/agent_configs.py)
    ]
    assert list(backend.entries) == ["redis_password", "redis_conf"]
    for name in ("redis_password", "redis.conf"):
        (project.secrets_dir / name).unlink()
    report = run_pull(project, opener=opener(backend))
    assert [r["secret"] for r in report.rows] == ["redis_password"]
    assert (project.secrets_dir / "redis_password").read_bytes() == value
    assert write_configs(project) == {"redis_conf": "written"}
    assert value in (project.secrets_dir / "redis.conf").read_bytes()
    assert [r["secret"] for r in run_check_backend(project, opener=opener(backend)).rows] == [
        "redis_password",
        "redis_conf",
    ]


@pytest.mark.parametrize(
    "bad", [b"a\x00" + secrets.token_urlsafe(24).encode(), b"x" * 600_000], ids=["nul", "huge"]
)
def test_pull_refuses_a_backend_value_check_secrets_rejects(setup, bad: bytes) -> None:
    """A value push would refuse is never pulled either, even with --force: the current file the
    consumers mount stays as it was (exit 1, `refused`, the finding names the check)."""
    project, backend = setup
    run_push(project, opener=opener(backend))
    current = project.secrets_dir / "api_token"
    before = current.read_bytes()
    backend.entries["api_token"].append(bad)
    report = run_pull(project, force=True, opener=opener(backend))
    assert report.exit_code == 1
    assert {r["secret"]: r["action"] for r in report.rows}["api_token"] == "refused"
    assert report.findings and all(f.secret == "api_token" for f in report.findings)
    assert current.read_bytes() == before


def test_pull_force_replaces_a_local_file_too_large_to_read(setup) -> None:
    project, backend = setup
    run_push(project, opener=opener(backend))
    current = project.secrets_dir / "api_token"
    current.write_bytes(b"y" * 600_000)
    report = run_pull(project, force=True, opener=opener(backend))
    assert report.exit_code == 0, report.findings
    assert current.read_bytes() == backend.entries["api_token"][-1]
