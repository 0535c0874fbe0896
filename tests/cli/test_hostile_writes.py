"""Issue 9.2: the tool writes only what it owns, inside the project and the secrets dir, never
through a symlink or onto a hard link. Every hostile case snapshots a directory OUTSIDE the
project (paths, modes, owners, content hashes) and asserts it is unchanged afterwards."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.hostile import snapshot
from titan_deploy.core.rotation import Journal, WriteVersion
from titan_deploy.errors import ConfigError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.effects import StackEffects
from titan_deploy.project import Project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the project holding a 'system' file and a 'root-only' file."""
    root = tmp_path / "outside"
    root.mkdir()
    (root / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/sh\n")
    os.chmod(root / "passwd", 0o644)
    (root / "shadow").write_bytes(b"root:$6$not-a-real-hash:19000:0:99999:7:::\n")
    os.chmod(root / "shadow", 0o600)
    (root / "gemini_api_key").write_bytes(b"x" * 40)  # named like a secret
    os.chmod(root / "gemini_api_key", 0o644)
    return root


def set_overlay(project: Path, overlay: str) -> None:
    manifest = project / "secrets.manifest.yml"
    text = manifest.read_text()
    old = "overlay: docker-compose.secrets.yml\n"
    assert old in text
    manifest.write_text(text.replace(old, f"overlay: {overlay}\n"))


def errors_of(result) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in json.loads(result.stdout)["findings"]:
        out.setdefault(f["code"], []).append(f["message"])
    return out


# --- render: the overlay path -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlay", "why"),
    [
        ("secrets/titan_db_password", "is inside the secrets dir secrets"),
        ("./secrets/../secrets/titan_hmac_secret.v3", "must be a path inside the project"),
        ("secrets", "is inside the secrets dir secrets"),
        ("docker-compose.prod.yml", "is also listed in compose_files"),
        (".titan-deploy/state.json", "is inside the state dir .titan-deploy"),
    ],
)
def test_overlay_naming_a_file_the_tool_must_not_overwrite_is_a_config_error(
    cli, ready_project: Path, outside: Path, overlay: str, why: str
) -> None:
    set_overlay(ready_project, overlay)
    before, project_before = snapshot(outside), snapshot(ready_project)
    result = cli("-C", ready_project, "render")
    assert result.exit_code == 2, result.output
    assert "secrets.manifest.yml:" in result.output and why in result.output
    assert snapshot(outside) == before
    assert snapshot(ready_project) == project_before


def test_overlay_that_is_the_manifest_is_a_config_error(cli, ready_project: Path) -> None:
    set_overlay(ready_project, "secrets.manifest.yml")
    before = snapshot(ready_project)
    result = cli("-C", ready_project, "render")
    assert result.exit_code == 2
    assert "overlay: secrets.manifest.yml is (a link to) the manifest" in result.output
    assert snapshot(ready_project) == before


def test_overlay_inside_a_secrets_dir_given_on_the_command_line(cli, ready_project: Path) -> None:
    (ready_project / "secrets").rename(ready_project / "vault")
    set_overlay(ready_project, "vault/overlay.yml")
    result = cli("-C", ready_project, "--secrets-dir", "vault", "render")
    assert result.exit_code == 2
    assert "is inside the secrets dir vault" in result.output
    assert not (ready_project / "vault" / "overlay.yml").exists()


def test_overlay_through_a_symlinked_dir_never_writes_outside(
    cli, ready_project: Path, outside: Path
) -> None:
    (ready_project / "conf").symlink_to(outside)
    set_overlay(ready_project, "conf/passwd")
    before = snapshot(outside)
    result = cli("-C", ready_project, "render")
    assert result.exit_code == 2, result.output
    assert (
        "conf is a symlink: titan-deploy never writes through one" in result.output
        or "conf/passwd exists and was not rendered by titan-deploy" in result.output
    )
    assert snapshot(outside) == before


def test_overlay_that_is_a_symlink_is_neither_followed_nor_replaced(
    cli, ready_project: Path, outside: Path
) -> None:
    overlay = ready_project / "docker-compose.secrets.yml"
    overlay.unlink()
    overlay.symlink_to(outside / "passwd")
    before = snapshot(outside)
    result = cli("-C", ready_project, "render")
    assert result.exit_code == 2, result.output
    assert "docker-compose.secrets.yml is a symlink" in result.output
    assert snapshot(outside) == before
    assert overlay.is_symlink()


def test_overlay_linked_to_a_compose_file_is_a_config_error(cli, ready_project: Path) -> None:
    overlay = ready_project / "docker-compose.secrets.yml"
    overlay.unlink()
    overlay.symlink_to("docker-compose.prod.yml")
    before = snapshot(ready_project)
    result = cli("-C", ready_project, "render")
    assert result.exit_code == 2
    assert "is (a link to) a compose file" in result.output
    assert snapshot(ready_project) == before


def test_the_overlay_may_be_named_with_f(cli, ready_project: Path) -> None:
    """`-f prod -f overlay` (as compose is often called) names the overlay, not another file."""
    args = ["-f", "docker-compose.prod.yml", "-f", "./docker-compose.secrets.yml"]
    result = cli("-C", ready_project, *args, "render", "--check")
    assert result.exit_code == 0, result.output


# --- check-secrets --fix ------------------------------------------------------------------------


def test_fix_never_follows_a_symlinked_secrets_dir(cli, ready_project: Path, outside: Path) -> None:
    store = ready_project / "secrets"
    for path in store.iterdir():
        path.rename(outside / path.name) if not (outside / path.name).exists() else path.unlink()
    store.rmdir()
    store.symlink_to(outside)
    os.chmod(outside, 0o755)  # a "system" dir: --fix would have made it 0750, group 10500
    before = snapshot(outside)
    result = cli("-C", ready_project, "--json", "check-secrets", "--fix")
    assert result.exit_code == 1, result.output
    assert errors_of(result)["S017"] == [
        "secrets dir secrets is a symlink: titan-deploy never reads or writes secrets through one"
    ]
    assert snapshot(outside) == before


def test_fix_never_changes_a_hard_linked_secret(cli, ready_project: Path, outside: Path) -> None:
    secret = ready_project / "secrets" / "gemini_api_key"
    secret.unlink()
    os.link(outside / "gemini_api_key", secret)  # 0644, the wrong group: both "fixable"
    before = snapshot(outside)
    result = cli("-C", ready_project, "--json", "check-secrets", "--fix")
    assert result.exit_code == 1, result.output
    found = errors_of(result)
    assert found["S018"][0].startswith("secrets/gemini_api_key has 2 hard links")
    assert any("has 2 hard links: not changed" in m for m in found["S022"])
    assert snapshot(outside) == before
    other = ready_project / "secrets" / "titan_db_password"
    assert stat.S_IMODE(other.stat().st_mode) == 0o640  # the rest is still fixed


def test_fix_never_follows_a_secret_symlink(cli, ready_project: Path) -> None:
    """A symlink inside the dir is allowed (README "What `check-secrets` checks") but --fix
    changes the file, not a link."""
    store = ready_project / "secrets"
    target = store / "gemini_api_key.v2"
    (store / "gemini_api_key").rename(target)
    (store / "gemini_api_key").symlink_to("gemini_api_key.v2")
    os.chmod(target, 0o644)
    result = cli("-C", ready_project, "--json", "check-secrets", "--fix")
    assert any("is a symlink: not changed" in m for m in errors_of(result)["S022"])
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


# --- init -----------------------------------------------------------------------------------------


def test_init_from_never_copies_through_a_symlink(
    cli, titan_project: Path, outside: Path, tmp_path: Path
) -> None:
    source = tmp_path / "from"
    source.mkdir()
    (source / "binance_api_key").symlink_to(outside / "shadow")  # root-only
    os.link(outside / "passwd", source / "binance_api_secret")
    before = snapshot(outside)
    result = cli("-C", titan_project, "--json", "init", "--from", source)
    assert result.exit_code == 1, result.output
    refused = errors_of(result)["I002"]
    assert any("binance_api_key is a symlink: not copied" in m for m in refused)
    assert any("binance_api_secret has 2 hard links: not copied" in m for m in refused)
    store = titan_project / "secrets"
    assert not (store / "binance_api_key").exists()
    assert not (store / "binance_api_secret").exists()
    assert snapshot(outside) == before


def test_init_never_writes_through_a_symlinked_secrets_dir(
    cli, titan_project: Path, outside: Path
) -> None:
    (titan_project / "secrets").symlink_to(outside)
    before = snapshot(outside)
    result = cli("-C", titan_project, "init")
    assert result.exit_code == 2
    assert "secrets is a symlink: titan-deploy never writes through one" in result.output
    assert snapshot(outside) == before


def test_init_leaves_a_symlinked_gitignore_alone(cli, titan_project: Path, outside: Path) -> None:
    (titan_project / ".gitignore").symlink_to(outside / "passwd")
    before = snapshot(outside)
    result = cli("-C", titan_project, "--json", "init")
    assert result.exit_code == 0, result.output
    warned = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "I003"]
    assert len(warned) == 1 and ".gitignore is a symlink: not changed" in warned[0]["message"]
    assert "/secrets/" in warned[0]["fix"]
    assert (titan_project / ".gitignore").is_symlink()
    assert snapshot(outside) == before


# --- state dir and rotation version files --------------------------------------------------------


def test_journal_is_never_written_through_a_symlinked_state_dir(
    ready_project: Path, outside: Path
) -> None:
    (ready_project / ".titan-deploy").symlink_to(outside)
    before = snapshot(outside)
    project = Project(project_dir=ready_project)
    with pytest.raises(ConfigError, match="is a symlink"):
        journal_io.save(project, Journal())
    with pytest.raises(ConfigError, match="is a symlink"):
        journal_io.acquire(project, "rotate test")
    assert snapshot(outside) == before


def test_rotation_never_writes_a_version_through_a_symlinked_secrets_dir(
    ready_project: Path, outside: Path
) -> None:
    store = ready_project / "secrets"
    for path in store.iterdir():
        path.rename(outside / f"copy-{path.name}")
    store.rmdir()
    store.symlink_to(outside)
    before = snapshot(outside)
    effects = StackEffects.__new__(StackEffects)  # only the file effects: no engine needed
    effects.project = Project(project_dir=ready_project)
    effects.manifest = effects.project.manifest
    effects.gid, effects.inputs, effects.mid_write = None, {}, None
    step = WriteVersion(secret="titan_db_password", version=2, source="generate")
    with pytest.raises(ConfigError, match="secrets is a symlink"):
        effects.write_version(step, Journal())
    assert snapshot(outside) == before


@pytest.mark.parametrize("victim", [".gitignore", ".env", "extra.yml", "secrets.example/README.md"])
def test_render_never_overwrites_a_file_it_did_not_render(cli, ready_project: Path, victim) -> None:
    """`overlay:` naming an operator's file (a -f compose file, .gitignore, .env, a README):
    render refuses (exit 2) and the file keeps its bytes; its own overlay it still replaces."""
    target = ready_project / victim
    target.write_text("# the operator's own file\nservices: {}\n")
    before = target.read_bytes()
    manifest = ready_project / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text().replace("overlay: docker-compose.secrets.yml", f"overlay: {victim}")
    )
    extra = ["-f", "docker-compose.prod.yml", "-f", victim] if victim == "extra.yml" else []
    result = cli("-C", ready_project, *extra, "render")
    assert result.exit_code == 2, result.output
    assert "was not rendered by titan-deploy" in result.stderr
    assert target.read_bytes() == before
    if extra:
        return  # the -f file is the operator's: nothing of its own to render into
    target.unlink()
    assert cli("-C", ready_project, "render").exit_code == 0  # missing: written
    assert cli("-C", ready_project, "render").exit_code == 0  # its own: replaced
