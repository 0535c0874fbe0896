"""ops/backup.py and the rotation's cleanup step: a retired version is kept age-encrypted (0600,
in a 0700 dir under the state dir) before it is removed, and only when the manifest names
recipients; a copy that cannot be written keeps the version (README "Break-glass copies")."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from tests.fakes import FakeEngine
from tests.projectkit import API_TOKEN, small_project
from titan_deploy.core.backup import identities, parse_backup, parse_version
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import Journal, RemoveVersions
from titan_deploy.errors import ConfigError
from titan_deploy.ops.rotate.effects import StackEffects
from titan_deploy.project import Project

MANIFEST = API_TOKEN


def project_with(tmp_path: Path, recipient: str | None) -> tuple[Project, dict[int, bytes]]:
    text = MANIFEST + (f"backup:\n  recipients: [{recipient}]\n" if recipient else "")
    values = {v: secrets.token_urlsafe(24).encode() for v in (1, 2)}
    files = {f"api_token.v{version}": value for version, value in values.items()}
    return small_project(tmp_path, text, files), values


def remove_v1(project: Project) -> str:
    journal = Journal(assignments={"api_token": {"web": Assignment(version=2)}})
    effects = StackEffects(project, engine=FakeEngine())  # type: ignore[arg-type]
    return effects.remove_versions(RemoveVersions("api_token", (1,)), journal)


def test_a_retired_version_is_kept_encrypted_then_removed(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    project, values = project_with(tmp_path, str(identity.to_public()))
    note = remove_v1(project)
    assert note == "removed api_token.v1"
    assert not (tmp_path / "secrets" / "api_token.v1").exists()
    copy = tmp_path / ".titan-deploy" / "backups" / "api_token.v1.age"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    blob = copy.read_bytes()
    assert values[1] not in blob
    assert pyrage.decrypt(blob, [identity]) == values[1]


def test_without_recipients_nothing_is_kept(tmp_path: Path) -> None:
    project, _ = project_with(tmp_path, None)
    assert remove_v1(project) == "removed api_token.v1"
    assert not (tmp_path / ".titan-deploy" / "backups").exists()


def test_a_copy_that_cannot_be_written_keeps_the_version(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    project, _ = project_with(tmp_path, str(identity.to_public()))
    (tmp_path / ".titan-deploy").write_text("not a dir")  # the state dir cannot be made
    note = remove_v1(project)
    assert "kept api_token.v1 (its break-glass copy could not be written)" in note
    assert (tmp_path / "secrets" / "api_token.v1").exists()


def test_a_bad_recipient_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"backup\.recipients"):
        parse_manifest_text(MANIFEST + "backup:\n  recipients: [age1nope]\n")


def test_names_versions_and_identity_files() -> None:
    assert parse_backup("api_token.v3.age", ["api_token"]) == ("api_token", 3)
    assert parse_backup("api_token.age", ["api_token"]) == ("api_token", None)
    assert parse_backup("api_token.v3", ["api_token"]) is None
    assert parse_version("base") is None and parse_version("12") == 12
    for bad in ("0", "-1", "v1", "01", ""):
        with pytest.raises(ValueError):
            parse_version(bad)
    text = "# created: now\n# public key: age1x\nAGE-SECRET-KEY-1ABC\n\n"
    assert identities(text.splitlines()) == ["AGE-SECRET-KEY-1ABC"]
