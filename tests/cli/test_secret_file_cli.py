"""A secret's `file:` (issue 10 item 1): init, check-secrets (--fix), render and the value search
read and write the file the manifest names inside the secrets dir, with the store's modes, and
never one outside it (a symlinked subdir or file escaping the dir is refused)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from titan_deploy.io import fs
from titan_deploy.ops.rotate.session import existing_versions
from titan_deploy.ops.stack import secret_values
from titan_deploy.project import Project

MANIFEST = """\
version: 1
compose_files: [compose.yml]
secrets:
  Gitea_DB_Password:
    kind: password
    generate: true
    file: db/nested/password.txt
    consumers:
      Gitea: GITEA__database__PASSWD__FILE
  plain_token:
    kind: token
    generate: true
    consumers:
      Gitea: {target: /etc/gitea/token}
"""
COMPOSE = "services:\n  Gitea:\n    image: busybox\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST)
    (tmp_path / "compose.yml").write_text(COMPOSE)
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_init_writes_the_file_in_its_subdir_with_the_store_modes(project: Path, cli) -> None:
    result = cli("-C", project, "init")
    assert result.exit_code == 0, result.output
    value = project / "secrets/db/nested/password.txt"
    assert value.is_file() and mode(value) == 0o600
    assert mode(project / "secrets/db") == 0o700
    assert mode(project / "secrets/db/nested") == 0o700
    assert not (project / "secrets/Gitea_DB_Password").exists()
    check = cli("-C", project, "--json", "check-secrets")
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["findings"] == []


def test_check_secrets_reads_the_named_file_and_fix_applies_there(project: Path, cli) -> None:
    assert cli("-C", project, "init").exit_code == 0
    value = project / "secrets/db/nested/password.txt"
    value.write_bytes(value.read_bytes() + b"\n")
    os.chmod(value, 0o644)
    found = cli("-C", project, "--json", "check-secrets")
    codes = {(f["code"], f["secret"]) for f in json.loads(found.stdout)["findings"]}
    assert ("S005", "Gitea_DB_Password") in codes
    assert ("S009", "Gitea_DB_Password") in codes  # mode 0644
    assert cli("-C", project, "check-secrets", "--fix").exit_code == 0
    assert mode(value) == 0o600 and not value.read_bytes().endswith(b"\n")


def test_a_missing_file_is_named_by_its_path(project: Path, cli) -> None:
    assert cli("-C", project, "init").exit_code == 0
    (project / "secrets/db/nested/password.txt").unlink()
    result = cli("-C", project, "--json", "check-secrets")
    assert result.exit_code == 1
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert any("secrets/db/nested/password.txt" in m for m in messages), messages


@pytest.mark.parametrize("link", ["db", "db/nested/password.txt"])
def test_a_symlink_escaping_the_secrets_dir_is_refused(project: Path, cli, link: str) -> None:
    outside = project / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "nested" / "password.txt").write_text("x" * 32)
    (outside / "password.txt").write_text("x" * 32)
    (project / "secrets").mkdir(mode=0o700)
    if link == "db":  # the subdir itself leads out
        os.symlink(outside, project / "secrets/db")
    else:  # the file leads out
        (project / "secrets/db/nested").mkdir(parents=True, mode=0o700)
        os.symlink(outside / "password.txt", project / "secrets" / link)
    result = cli("-C", project, "--json", "check-secrets")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert any(f["secret"] == "Gitea_DB_Password" and f["code"] == "S002" for f in findings), (
        findings
    )
    # init never writes through it
    init = cli("-C", project, "init")
    assert init.exit_code in (0, 1, 2)
    assert (outside / "nested" / "password.txt").read_text() == "x" * 32


def test_render_points_the_overlay_at_the_file(project: Path, cli) -> None:
    assert cli("-C", project, "render").exit_code == 0
    text = (project / "docker-compose.secrets.yml").read_text()
    assert '"./secrets/db/nested/password.txt"' in text
    assert '"target": ' not in text and 'target: "/etc/gitea/token"' in text


def test_values_and_versions_are_found_beside_the_file(project: Path, cli) -> None:
    assert cli("-C", project, "init").exit_code == 0
    store = project / "secrets/db/nested"
    fs.atomic_write(store / "password.txt.v2", b"v2-" + b"k" * 30, root=project)
    fs.atomic_write(store / "stray.v2", b"z" * 30, root=project)
    proj = Project(project_dir=project)
    values = secret_values(proj)
    assert set(values) == {"Gitea_DB_Password", "Gitea_DB_Password.v2", "plain_token"}
    assert existing_versions(proj, "Gitea_DB_Password") == (2,)


def test_a_stale_temp_file_beside_a_file_secret_is_removed(project: Path, cli) -> None:
    """A rotation killed mid-write leaves `.password.txt.v2.tmp-PID` in the file's dir: secret
    material under a name nothing claims; the next rotation removes it (a dead pid only)."""
    from titan_deploy.ops.rotate.session import clean_stale_temps

    assert cli("-C", project, "init").exit_code == 0
    store = project / "secrets/db/nested"
    dead = 2**22 + 12345  # above any pid_max: never alive
    stale = store / f".password.txt.v2.tmp-{dead}"
    stale.write_bytes(b"s" * 32)
    other = store / f".unclaimed.tmp-{dead}"
    other.write_bytes(b"o")
    assert clean_stale_temps(Project(project_dir=project)) == [stale.name]
    assert not stale.exists() and other.exists()


def test_a_service_whose_only_consumer_is_target_only_renders(tmp_path: Path, cli) -> None:
    """No env var for the service: the overlay writes no `environment:` at all (an empty one is
    null, which Compose rejects: "services.web.environment must be a mapping")."""
    (tmp_path / "secrets.manifest.yml").write_text(
        "version: 1\ncompose_files: [compose.yml]\nsecrets:\n  server_cert:\n    kind: token\n"
        "    generate: true\n    consumers:\n      web: {target: /etc/app/server.cert}\n"
    )
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox\n")
    assert cli("-C", tmp_path, "init").exit_code == 0
    result = cli("-C", tmp_path, "render")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "docker-compose.secrets.yml").read_text()
    assert "environment" not in text and 'target: "/etc/app/server.cert"' in text
