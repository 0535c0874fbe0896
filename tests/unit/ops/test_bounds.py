"""Issue 9 (classes 2, 4, 7, 8): the unit-level pieces — confined fs primitives, bounded reads,
RE2 in the manifest, the overlay path rule, --fix around mounted files, --secrets-dir in the
overlay plan, the owner and git-missing checks, one 500 KiB constant."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.hostile import snapshot
from titan_deploy.core import regex
from titan_deploy.core.checks import Fix, GitFacts, check_store
from titan_deploy.core.fileread import TooLarge, UnsafeFile, read_bounded
from titan_deploy.core.limits import DOCKER_SECRET_LIMIT, MAX_SECRET_BYTES
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.manifest_keys import DEFAULT_MAX
from titan_deploy.core.overlay import plan_overlay
from titan_deploy.errors import ConfigError, EngineUnreachable
from titan_deploy.io import fs
from titan_deploy.ops.check import run_check
from titan_deploy.project import Project

GID = 10500
MANIFEST = """\
version: 1
secrets_gid: 10500
secrets:
  db_password:
    kind: password
    min_length: 24
    consumers: {db: DB_PASSWORD_FILE}
  api_key:
    kind: api-key
    consumers: {app: API_KEY_FILE}
"""
VALUES = {"db_password": b"Zq3vN8wLr2Tb6YhKp0Xc4Mf9", "api_key": b"AbCdEfGh1234567890"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    (root / "secrets.manifest.yml").write_text(MANIFEST)
    store = root / "secrets"
    store.mkdir(mode=0o750)
    os.chown(store, -1, GID)
    for name, value in VALUES.items():
        (store / name).write_bytes(value)
        os.chown(store / name, -1, GID)
        os.chmod(store / name, 0o640)
    return Project(project_dir=root)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    root = tmp_path / "outside"
    root.mkdir()
    (root / "system.conf").write_bytes(b"do not touch\n")
    os.chmod(root / "system.conf", 0o644)
    return root


# --- fs: confined writes ------------------------------------------------------------------------


def test_atomic_write_refuses_a_symlinked_parent_under_root(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    before = snapshot(outside)
    with pytest.raises(fs.UnsafePath, match="sub is a symlink"):
        fs.atomic_write(root / "sub" / "system.conf", b"x", root=root)
    with pytest.raises(fs.UnsafePath, match="sub is a symlink"):
        fs.write_new(root / "sub" / "new", b"x", root=root)
    with pytest.raises(fs.UnsafePath, match="sub is a symlink"):
        fs.ensure_dir(root / "sub" / "deeper", 0o700, root=root)
    with pytest.raises(fs.UnsafePath, match="sub is a symlink"):
        fs.unlink(root / "sub" / "system.conf", root=root)
    assert snapshot(outside) == before


def test_writes_outside_the_root_are_refused(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(outside)
    with pytest.raises(fs.UnsafePath, match="is outside"):
        fs.atomic_write(root / ".." / "outside" / "system.conf", b"x", root=root)
    assert snapshot(outside) == before


def test_atomic_write_refuses_a_symlink_target(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "link").symlink_to(outside / "system.conf")
    before = snapshot(outside)
    with pytest.raises(fs.UnsafePath, match="is a symlink"):
        fs.atomic_write(tmp_path / "link", b"x")
    assert snapshot(outside) == before
    assert (tmp_path / "link").is_symlink()


def test_ensure_dir_creates_missing_parents_confined(tmp_path: Path) -> None:
    assert fs.ensure_dir(tmp_path / "a" / "b", 0o750, GID, root=tmp_path) is True
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o750
    assert (tmp_path / "a" / "b").stat().st_gid == GID
    assert fs.ensure_dir(tmp_path / "a" / "b", 0o700, root=tmp_path) is False


def test_apply_fix_refuses_symlinks_hard_links_and_specials(tmp_path: Path, outside: Path) -> None:
    store = tmp_path / "secrets"
    store.mkdir()
    (store / "link").symlink_to(outside / "system.conf")
    os.link(outside / "system.conf", store / "hard")
    os.mkfifo(store / "fifo")
    before = snapshot(outside)
    for name, why in (("link", "is a symlink"), ("hard", "2 hard links"), ("fifo", "regular")):
        for fix in (Fix("chmod", store / name, mode=0o600), Fix("strip-whitespace", store / name)):
            with pytest.raises(fs.UnsafePath, match=why):
                fs.apply_fix(fix, root=tmp_path)
    assert snapshot(outside) == before


def test_apply_fix_on_a_symlinked_secrets_dir_is_refused(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "secrets").symlink_to(outside)
    before = snapshot(outside)
    with pytest.raises(fs.UnsafePath, match="is a symlink"):
        fs.apply_fix(Fix("chmod", tmp_path / "secrets", mode=0o750), root=tmp_path)
    with pytest.raises(fs.UnsafePath, match="is a symlink"):
        fs.apply_fix(Fix("chmod", tmp_path / "secrets" / "system.conf", mode=0o600), root=tmp_path)
    assert snapshot(outside) == before


# --- bounded reads ------------------------------------------------------------------------------


def test_read_bounded_refuses_specials_and_reads_at_most_limit_plus_one(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeFile, match="is a FIFO, not a regular file"):
        read_bounded(tmp_path / "fifo", 10)
    with pytest.raises(UnsafeFile, match="is a character device"):
        read_bounded("/dev/zero", 10)
    (tmp_path / "f").write_bytes(b"x" * 11)
    with pytest.raises(TooLarge) as raised:
        read_bounded(tmp_path / "f", 10)
    assert raised.value.size == 11
    assert read_bounded(tmp_path / "f", 11) == b"x" * 11
    (tmp_path / "l").symlink_to("f")
    with pytest.raises(UnsafeFile, match="is a symlink"):
        read_bounded(tmp_path / "l", 11, follow_symlinks=False)
    os.link(tmp_path / "f", tmp_path / "h")
    with pytest.raises(UnsafeFile, match="2 hard links"):
        read_bounded(tmp_path / "h", 11, single_link=True)


# --- RE2 ---------------------------------------------------------------------------------------


def test_manifest_regexes_are_checked_with_re2_at_load() -> None:
    for key in ("pattern", "verify_log"):
        text = f"version: 1\nsecrets:\n  k:\n    kind: api-key\n    {key}: '(?=x)a'\n"
        with pytest.raises(ConfigError) as raised:
            parse_manifest_text(text, "m.yml")
        assert str(raised.value).startswith(
            f"m.yml:5: secrets.k.{key}: not a valid RE2 regular expression: invalid perl operator"
        )


def test_re2_is_linear_on_a_catastrophic_pattern() -> None:
    assert regex.search("(a+)+$", "a" * 5000 + "!") is False
    assert regex.fullmatch("[A-Za-z0-9]{64}", "a" * 64) is True
    with pytest.raises(regex.RegexError, match="longer than"):
        regex.check_pattern("a" * (regex.MAX_PATTERN + 1))


# --- the overlay path rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "why"),
    [
        ("overlay: ./docker-compose.prod.yml\n", "is also listed in compose_files"),
        ("overlay: secrets/k\n", "is inside the secrets dir secrets"),
        ("overlay: vault/x.yml\nsecrets_dir: vault/\n", "is inside the secrets dir vault/"),
        ("overlay: .titan-deploy\n", "is inside the state dir .titan-deploy"),
    ],
)
def test_overlay_path_rule_at_manifest_load(top: str, why: str) -> None:
    text = f"version: 1\n{top}secrets:\n  k: {{kind: text}}\n"
    with pytest.raises(ConfigError) as raised:
        parse_manifest_text(text, "m.yml")
    assert "secrets.manifest" not in str(raised.value)
    assert ": overlay: " in str(raised.value) and why in str(raised.value)


# --- 9.7: --fix and mounted files; --secrets-dir everywhere -------------------------------------


class Mounts:
    def __init__(self, mounted: dict[str, list[str]]) -> None:
        self.mounted = mounted
        self.asked: list[str] = []

    def mounts_of(self, sources: list[str]) -> dict[str, list[str]]:
        self.asked += sources
        return {s: self.mounted[s] for s in sources if s in self.mounted}


def test_fix_skips_a_file_a_container_mounts(project: Project) -> None:
    mounted = project.secrets_dir / "db_password"
    free = project.secrets_dir / "api_key"
    for path in (mounted, free):
        path.write_bytes(path.read_bytes() + b"\n")
        os.chmod(path, 0o644)
    before = mounted.read_bytes()
    engine = Mounts({str(mounted): ["tdtest-db-1"]})
    report = run_check(project, fix=True, engine=lambda: engine)
    assert str(mounted) in engine.asked
    assert mounted.read_bytes() == before  # neither the newline nor the mode was touched
    assert stat.S_IMODE(mounted.stat().st_mode) == 0o644
    assert free.read_bytes() == VALUES["api_key"]
    assert stat.S_IMODE(free.stat().st_mode) == 0o640
    notes = [f for f in report.findings if f.code == "S021"]
    assert {n.message for n in notes} == {
        f"secrets/db_password: {action} not applied: bind-mounted by container(s) tdtest-db-1; "
        "a mounted secret file is never modified"
        for action in ("chmod", "strip-whitespace")
    }
    assert "titan-deploy down" in (notes[0].fix or "") and "rotate" in (notes[0].fix or "")


def test_fix_proceeds_when_no_engine_answers(project: Project) -> None:
    path = project.secrets_dir / "db_password"
    os.chmod(path, 0o644)

    def unreachable():
        raise EngineUnreachable("no engine")

    report = run_check(project, fix=True, engine=unreachable)
    assert report.data["fixed"] == [{"action": "chmod", "path": str(path)}]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_overlay_plan_points_into_the_secrets_dir_in_use() -> None:
    manifest = parse_manifest_text(MANIFEST)
    assert plan_overlay(manifest).files == (
        ("api_key", "./secrets/api_key"),
        ("db_password", "./secrets/db_password"),
    )
    assert plan_overlay(manifest, None, "ops/vault").files == (
        ("api_key", "./ops/vault/api_key"),
        ("db_password", "./ops/vault/db_password"),
    )


# --- 9.8: one size constant, the owner, git missing ---------------------------------------------


def test_one_size_constant_everywhere() -> None:
    assert DOCKER_SECRET_LIMIT == 512_000 and MAX_SECRET_BYTES == 511_999
    assert DEFAULT_MAX["text"] == MAX_SECRET_BYTES
    text = "version: 1\nsecrets:\n  k: {kind: text, max_length: 511999}\n"
    assert parse_manifest_text(text).secrets["k"].max_length == MAX_SECRET_BYTES


def test_a_secret_owned_by_another_user_is_an_error(project: Project) -> None:
    path = project.secrets_dir / "api_key"
    os.chown(path, 4242, -1)
    result = check_store(project.manifest, project.secrets_dir, uid=0)
    assert [(f.code, f.severity, f.secret) for f in result.findings] == [
        ("S019", "error", "api_key")
    ]
    assert result.findings[0].message == (
        "secrets/api_key is owned by uid 4242, not by the deploying user (uid 0) or root: "
        "that user can change or replace the secrets"
    )
    os.chown(path, 1000, -1)  # the deploying user (not root) owning its files is fine
    assert check_store(project.manifest, project.secrets_dir, uid=1000).findings == []


def test_git_missing_is_said_not_silent(project: Project) -> None:
    store = project.secrets_dir
    result = check_store(project.manifest, store, git=GitFacts(available=False))
    assert [(f.code, f.severity, f.message) for f in result.findings] == [
        ("S020", "warning", "git not found: tracked/ignored checks skipped")
    ]
