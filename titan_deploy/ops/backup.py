"""`titan-deploy backup [NAME...]` and the copy a rotation keeps of a version it retires (README
"Break-glass copies"): each version file of a secret, age-encrypted in memory to the manifest's
`backup.recipients`, written atomically 0600 under `<state_dir>/backups/` (0700). Plaintext is
never written anywhere but the secrets dir it came from."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from titan_deploy.core.backup import BACKUP_DIR, backup_name
from titan_deploy.core.findings import Report
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.versions import file_name, versions_of
from titan_deploy.errors import ConfigError, UsageError
from titan_deploy.io import age, fs
from titan_deploy.project import Project

COLUMNS = ["secret", "version", "copy"]


def backup_dir(project: Project) -> Path:
    """Where the copies live: `<state_dir>/backups` (git-ignored with the state dir)."""
    return project.state_dir / BACKUP_DIR


def recipients(project: Project) -> tuple[str, ...]:
    """The manifest's backup recipients; ConfigError (exit 2) when it names none."""
    found = project.manifest.backup_recipients
    if not found:
        raise ConfigError(
            "no backup recipients: add `backup: {recipients: [age1...]}` to the manifest"
        )
    return found


def keep_copy(
    project: Project, secret: str, version: int | None, data: bytes, source: Path | None = None
) -> Path:
    """Encrypt `data` (version `version` of `secret`, in memory) to the manifest's recipients
    and write it atomically, 0600, as its copy; returns the copy's path. The copy's mtime is
    set to `source`'s (the file `data` was read from): the value's time, which `restore` gives
    back to the restored file so its age (S024) stays true. Raises ConfigError when the
    manifest names no recipient, OSError when the state dir cannot be written."""
    blob = age.encrypt(data, recipients(project))
    root = project.project_dir
    fs.ensure_dir(project.state_dir, 0o700, root=root)
    fs.ensure_dir(backup_dir(project), 0o700, root=root)
    path = backup_dir(project) / backup_name(secret, version)
    fs.atomic_write(path, blob, mode=0o600, root=root)
    if source is not None:
        when = os.lstat(source).st_mtime
        os.utime(path, (when, when), follow_symlinks=False)
    return path


def version_files(project: Project, spec: SecretSpec) -> list[tuple[int | None, Path]]:
    """(version, path) of every file of `spec` in the secrets dir: the base file, then versions
    in order; only those that exist."""
    base = project.secrets_dir / spec.file_name
    try:
        entries = os.listdir(base.parent)
    except FileNotFoundError:
        return []
    versions = versions_of(entries, base.name)
    out: list[tuple[int | None, Path]] = [(None, base)] if base.name in entries else []
    out += [(v, base.parent / file_name(base.name, v)) for v in versions]
    return out


def run_backup(project: Project, names: Sequence[str] = ()) -> Report:
    """Keep an encrypted copy of every version file of `names` (default: every stored secret).
    UsageError (exit 2) for a name the manifest does not know, or a config: it is rendered again
    from its inputs (README "Config files"), so it has no copy of its own."""
    manifest = project.manifest
    unknown = [n for n in names if n not in manifest.secrets]
    if unknown:
        raise UsageError(f"not a manifest secret: {', '.join(unknown)}")
    configs = [n for n in names if n in manifest.configs]
    if configs:
        raise UsageError(config_refusal(manifest, configs[0], "backed up"))
    recipients(project)
    report = Report(command="backup", columns=COLUMNS)
    for name in names or list(manifest.stored):
        for version, path in version_files(project, manifest.secrets[name]):
            data = fs.read_secret(path)
            copy = keep_copy(project, name, version, data, source=path)
            shown = "base" if version is None else str(version)
            report.rows.append({"secret": name, "version": shown, "copy": _rel(project, copy)})
    count = len(report.rows)
    report.summary = f"kept {count} encrypted cop{'y' if count == 1 else 'ies'} in " + _rel(
        project, backup_dir(project)
    )
    report.data = {"copies": count, "dir": str(backup_dir(project))}
    return report


def config_refusal(manifest: Manifest, name: str, what: str) -> str:
    """Why config `name` is not `what` ("backed up", "restored"): it is rendered from its
    inputs, which are (README "Config files")."""
    inputs = ", ".join(manifest.secrets[name].inputs)
    return (
        f"{name} is a config rendered from {inputs}: it is not {what} by itself; "
        f"its inputs are (`titan-deploy render` renders it again from them)"
    )


def _rel(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.project_dir))
    except ValueError:
        return str(path)
