"""`titan-deploy restore NAME --version V --identity FILE` (README "Break-glass copies"): bring a
kept version back as the secret's new current version.

The copy is decrypted in memory with the identities of FILE (a path: a key never on the command
line), written with `write_new` as a NEW version file `<name>.v<N>` in the secrets dir (never over
a file, never a mounted one: ARCHITECTURE.md invariant 2), every consumer pointed at it in the
journal, and the overlay rendered; `titan-deploy up` then deploys it. Under the rotation lock;
refused while a rotation is in flight. Nothing is written in plaintext outside the secrets dir.
An hmac key is never restored (`hmac_refusal`): listeners must accept a new key before signers
use it, which only the two phases of `rotate hmac` do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from titan_deploy.core.backup import backup_name, identities
from titan_deploy.core.checks import expected_file_mode
from titan_deploy.core.findings import Report
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.plan import next_version, versions_in_use
from titan_deploy.core.versions import file_name
from titan_deploy.errors import ConfigError, RuntimeFailure, UsageError
from titan_deploy.io import age, fs
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.backup import backup_dir, config_refusal, version_files
from titan_deploy.ops.render import run_render
from titan_deploy.project import Project

Confirm = Callable[[str], bool]


def run_restore(
    project: Project,
    name: str,
    version: int | None,
    identity: Path,
    *,
    confirm: Confirm,
) -> Report:
    """Restore version `version` (None: the base file's copy) of secret `name` as its new
    current version, once `confirm(question)` says yes. ConfigError/UsageError (exit 2) for an
    unknown secret, an hmac key (`hmac_refusal`, before anything is read), a missing copy, an
    identity file that opens nothing; RuntimeFailure (exit 3)
    while a rotation is in flight. A declined confirmation changes nothing (exit 1)."""
    spec = project.manifest.secrets.get(name)
    if spec is None:
        raise UsageError(f"not a manifest secret: {name}")
    if spec.rotation == "hmac":
        raise UsageError(hmac_refusal(name))
    if spec.is_config:
        raise UsageError(config_refusal(project.manifest, name, "restored"))
    configs = project.manifest.configs_using([name])
    if configs:
        copy = backup_dir(project) / backup_name(name, version)
        raise UsageError(input_refusal(name, configs, os.path.relpath(copy, project.project_dir)))
    copy = backup_dir(project) / backup_name(name, version)
    if not copy.exists() and not copy.is_symlink():
        raise UsageError(f"no break-glass copy {copy.name} in {backup_dir(project)}")
    keys = identities(_read(identity, follow=True).decode("utf-8", "replace").splitlines())
    if not keys:
        raise ConfigError(f"{identity}: holds no age identity (AGE-SECRET-KEY-1...)")
    blob = _read(copy, follow=False)  # `backup` never writes through a symlink: never read one
    when = os.lstat(copy).st_mtime
    data = age.decrypt(blob, keys, copy.name)
    shown = "the base file" if version is None else f"version {version}"
    question = (
        f"restore {shown} of {name} as its new current version (every consumer repointed "
        "at the next `up`)?"
    )
    report = Report(command="restore", columns=["secret", "restored", "as"])
    if not confirm(question):
        report.summary = "not restored: not confirmed"
        report.failed = True
        return report
    with journal_io.acquire(project, "restore"):
        written, new = _write_current(project, name, data, when)
    run_render(project)
    report.rows.append({"secret": name, "restored": copy.name, "as": written})
    report.summary = f"restored {name} as {written}; run `titan-deploy up` to deploy it"
    report.data = {
        "secret": name,
        "file": written,
        "secrets": [name],
        "versions": {name: new},  # the history records the version restored as
    }
    return report


def input_refusal(name: str, configs: tuple[str, ...], copy: str) -> str:
    """Why an input of a config is not restored (README "Break-glass copies"): a restore
    repoints the input's consumers only, and the config's consumers would keep a file rendered
    from the old value. A rotation renders the configs again with the new value."""
    return (
        f"{name} is an input of config {', '.join(configs)}: a restore would leave "
        f"{configs[0]}'s consumers on a file rendered from the old value; not restored. Give "
        f"the kept value to a rotation, which renders the config again: `age -d -i IDENTITY "
        f"{copy} | titan-deploy rotate secret {name}` (from stdin, no plaintext file)"
    )


def hmac_refusal(name: str) -> str:
    """Why an hmac key is not restored (README "Break-glass copies"): a restore repoints every
    consumer at once, signers and listeners alike, and a consumer's one current version drops
    the secondary key listeners accept during a rotation; signatures made with the key in use
    would fail. The two-phase way is `rotate hmac` (a new key) or `rotate abort` (back)."""
    return (
        f"{name} is an hmac key: restore would move signers and listeners to the kept key at "
        "once and drop the key(s) listeners accept now, so signatures in flight would fail; not "
        "restored. Use `titan-deploy rotate hmac` for a new key (listeners accept both keys "
        "before signers change), or `titan-deploy rotate abort` to undo an unfinished phase 1"
    )


def _read(path: Path, *, follow: bool) -> bytes:
    """A regular file's bytes (bounded; a symlink only with `follow`). ConfigError (exit 2)
    `PATH: reason` for a FIFO, a device, a symlink, a file too large or unreadable."""
    try:
        return fs.read_config(path, follow_symlinks=follow)
    except fs.UnsafeFile as exc:  # TooLarge too; a symlink when not followed
        raise ConfigError(f"{path}: {exc.reason}: not read") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symlink, not followed
            raise ConfigError(f"{path}: is a symlink: not read") from None
        raise ConfigError(f"{path}: {exc.strerror or 'cannot be read'}") from None


def _write_current(project: Project, name: str, data: bytes, when: float) -> tuple[str, int]:
    """Write `data` as the next version of `name`, dated `when` (the copy's mtime: the value's
    own time, so its age is not reset), and point every consumer at it (journal); returns the
    new file's name and version. Under the lock."""
    journal = journal_io.load(project)
    if journal.active is not None:
        raise RuntimeFailure("a rotation is in flight: finish or abort it, then restore")
    spec = project.manifest.secrets[name]
    existing = [v for v, _ in version_files(project, spec) if v is not None]
    used = versions_in_use(journal.assignments, name)
    new = next_version([*existing, *used], journal.last_version.get(name, 0))
    target = project.secrets_dir / file_name(spec.file_name, new)
    gid = project.manifest.secrets_gid
    if not fs.write_new(target, data, expected_file_mode(gid), gid, root=project.secrets_root):
        raise RuntimeFailure(f"{target.name} appeared meanwhile; run restore again")
    os.utime(target, (when, when), follow_symlinks=False)
    journal.last_version[name] = new
    journal.assignments[name] = {c.service: Assignment(version=new) for c in spec.consumers}
    journal_io.save(project, journal)
    return target.name, new
