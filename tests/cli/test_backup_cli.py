"""`backup` and `restore` through the console script (README "Break-glass copies"): copies are
age-encrypted 0600 files under the state dir, restore asks first (or `--yes`), brings the value
back as a new version that the overlay points at, and no value reaches any output or any file
outside the secrets dir (raw, base64, hex)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from tests.canary import Canaries
from tests.cli.test_canary import CONSOLE_SCRIPT, files_outside


class Run:
    def __init__(self, project: Path, values: dict[str, bytes], tmp_path: Path) -> None:
        self.project = project
        self.canaries = Canaries(values)
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir()

    def __call__(self, *args: str | Path, code: int) -> str:
        env = dict(os.environ, TMPDIR=str(self.tmpdir))
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "-C", str(self.project), *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        self.canaries.assert_clean(done.stdout, f"{args} stdout")
        self.canaries.assert_clean(done.stderr, f"{args} stderr")
        return done.stdout + done.stderr

    def assert_no_plaintext_outside(self) -> None:
        for root in (self.project, self.tmpdir):
            for path in files_outside(root, {self.project / "secrets"}):
                text = path.read_bytes().decode("utf-8", "replace")
                self.canaries.assert_clean(text, str(path))


@pytest.fixture
def identity(tmp_path: Path) -> tuple[Path, str]:
    key = x25519.Identity.generate()
    path = tmp_path / "keys" / "break-glass.txt"
    path.parent.mkdir()
    path.write_text(f"# public key: {key.to_public()}\n{key}\n")
    path.chmod(0o600)
    return path, str(key.to_public())


def with_backup(project: Path, recipient: str) -> None:
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text() + f"\nbackup:\n  recipients: [{recipient}]\n")


def test_backup_needs_recipients(ready_project: Path, titan_values, tmp_path: Path) -> None:
    out = Run(ready_project, titan_values, tmp_path)("backup", code=2)
    assert "backup: {recipients" in out


def test_backup_then_restore_as_a_new_version(
    ready_project: Path, titan_values: dict[str, bytes], tmp_path: Path, identity
) -> None:
    key_file, recipient = identity
    with_backup(ready_project, recipient)
    run = Run(ready_project, titan_values, tmp_path)
    assert run("render", code=0)
    doc = json.loads(run("--json", "backup", code=0))
    assert doc["data"]["copies"] == len(titan_values)
    copies = ready_project / ".titan-deploy" / "backups"
    assert stat.S_IMODE(copies.stat().st_mode) == 0o700
    for path in copies.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in copies.iterdir()) == sorted(f"{n}.age" for n in titan_values)
    run("backup", "no_such_secret", code=2)

    # the value changes afterwards (an operator's mistake); restore brings the kept one back
    store = ready_project / "secrets"
    (store / "titan_db_password").write_bytes(b"x" * 43)
    # restore asks first: no terminal and no --yes is a usage error, and nothing changes
    restore = ("restore", "titan_db_password", "--version", "base", "--identity", key_file)
    run(*restore, code=2)
    assert not (store / "titan_db_password.v1").exists()
    out = run(*restore, "--yes", code=0)
    assert "titan_db_password.v1" in out
    restored = store / "titan_db_password.v1"
    assert restored.read_bytes() == titan_values["titan_db_password"]
    assert stat.S_IMODE(restored.stat().st_mode) & 0o077 in (0, 0o040)
    overlay = (ready_project / "docker-compose.secrets.yml").read_text()
    assert "titan_db_password_v1" in overlay
    run("render", "--check", code=0)
    run("--format", "sarif", "backup", code=0)
    run.assert_no_plaintext_outside()


def test_restore_refuses_a_wrong_identity_and_a_missing_copy(
    ready_project: Path, titan_values: dict[str, bytes], tmp_path: Path, identity
) -> None:
    key_file, recipient = identity
    with_backup(ready_project, recipient)
    run = Run(ready_project, titan_values, tmp_path)
    run("backup", "titan_db_password", code=0)
    other = tmp_path / "keys" / "other.txt"
    other.write_text(f"{x25519.Identity.generate()}\n")
    out = run(
        "restore", "titan_db_password", "--version", "base", "--identity", other, "--yes", code=2
    )
    assert "no identity in the identity file can decrypt it" in out
    run("restore", "titan_db_password", "--version", "7", "--identity", key_file, "--yes", code=2)
    run("restore", "titan_db_password", "--version", "x", "--identity", key_file, "--yes", code=2)
    assert not (ready_project / "secrets" / "titan_db_password.v1").exists()


def test_restore_keeps_the_values_time(
    ready_project: Path, titan_values: dict[str, bytes], tmp_path: Path, identity
) -> None:
    """A restored old value is as old as it was (S024 stays true): the copy carries the
    source file's mtime and restore gives it to the new version file."""
    key_file, recipient = identity
    with_backup(ready_project, recipient)
    run = Run(ready_project, titan_values, tmp_path)
    source = ready_project / "secrets" / "titan_db_password"
    then = 1_600_000_000.0
    os.utime(source, (then, then))
    run("backup", "titan_db_password", code=0)
    copy = ready_project / ".titan-deploy" / "backups" / "titan_db_password.age"
    assert copy.stat().st_mtime == then
    restore = ("restore", "titan_db_password", "--version", "base", "--identity", key_file)
    run(*restore, "--yes", code=0)
    assert (ready_project / "secrets" / "titan_db_password.v1").stat().st_mtime == then
    # the history names the version it was restored as
    log = ready_project / ".titan-deploy" / "history.jsonl"
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["command"] == "restore"
    assert last["what"]["versions"] == {"titan_db_password": 1}


def test_restore_refuses_a_special_identity_and_a_symlinked_copy(
    ready_project: Path, titan_values: dict[str, bytes], tmp_path: Path, identity
) -> None:
    key_file, recipient = identity
    with_backup(ready_project, recipient)
    run = Run(ready_project, titan_values, tmp_path)
    run("backup", "titan_db_password", code=0)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    restore = ("restore", "titan_db_password", "--version", "base", "--yes", "--identity")
    for special in (fifo, Path("/dev/zero")):
        out = run(*restore, special, code=2)
        assert f"{special}:" in out
    # a copy replaced by a symlink (backup refuses to write through one): refused too
    copies = ready_project / ".titan-deploy" / "backups"
    real = tmp_path / "elsewhere.age"
    (copies / "titan_db_password.age").rename(real)
    (copies / "titan_db_password.age").symlink_to(real)
    out = run(*restore, key_file, code=2)
    assert "symlink" in out
    assert not (ready_project / "secrets" / "titan_db_password.v1").exists()


def test_restore_refuses_an_hmac_key_and_names_the_two_phase_way(
    ready_project: Path, titan_values: dict[str, bytes], tmp_path: Path, identity
) -> None:
    """An hmac key carries primary + secondary during a rotation, and listeners must accept a
    key before signers use it: restore (one version for every consumer, at once) would break
    signatures in flight and drop the secondary. Refused, exit 2, one line naming `rotate hmac`
    and `rotate abort`; nothing is written: no version file, no journal change, no overlay
    change; with or without --yes, whatever the version asked for."""
    key_file, recipient = identity
    with_backup(ready_project, recipient)
    run = Run(ready_project, titan_values, tmp_path)
    run("render", code=0)
    run("backup", "titan_hmac_secret", code=0)
    store = ready_project / "secrets"
    before = sorted(p.name for p in store.iterdir())
    state = ready_project / ".titan-deploy"
    journal = state / "state.json"
    journal_before = journal.read_bytes() if journal.exists() else None
    overlay = (ready_project / "docker-compose.secrets.yml").read_bytes()
    for extra in ([], ["--yes"]):
        for version in ("base", "1"):
            out = run(
                "restore",
                "titan_hmac_secret",
                "--version",
                version,
                "--identity",
                key_file,
                *extra,
                code=2,
            )
            lines = [line for line in out.splitlines() if line.strip()]
            assert len(lines) == 1, lines
            assert "titan_hmac_secret is an hmac key" in lines[0]
            assert "rotate hmac" in lines[0] and "rotate abort" in lines[0]
    assert sorted(p.name for p in store.iterdir()) == before
    assert (journal.read_bytes() if journal.exists() else None) == journal_before
    assert (ready_project / "docker-compose.secrets.yml").read_bytes() == overlay
    out = run(
        "--json",
        "restore",
        "titan_hmac_secret",
        "--version",
        "base",
        "--identity",
        key_file,
        "--yes",
        code=2,
    )
    doc, _ = json.JSONDecoder().raw_decode(out)  # stdout's one document, then stderr's line
    assert doc["exit_code"] == 2 and "rotate hmac" in doc["error"]
    run.assert_no_plaintext_outside()
