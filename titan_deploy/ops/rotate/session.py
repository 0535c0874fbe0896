"""The lock + journal session of a rotate command: refusing while a rotation is in flight,
removing the temp files a crash left, saving the journal, naming a run, picking the pending HMAC
phase 1, describing the rotation in flight, and the redactor of every secret value the run knows.

command.py runs a command with these; report.py words its report.
"""

from __future__ import annotations

import os
import re
import secrets as _random
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from titan_deploy.core import versions
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.redact import Redactor as CoreRedactor
from titan_deploy.core.rotation import (
    Active,
    Journal,
    effective_manifest,
    parse_version_files,
    resume_refusal,
)
from titan_deploy.errors import EXIT_FINDINGS, TitanError, UsageError
from titan_deploy.io import fs
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.runner import Hooks
from titan_deploy.project import Project

Progress = Callable[[str], None]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)$")


class Refused(TitanError):
    """The command ran and refused, for a reason the operator can act on (exit 1)."""

    exit_code = EXIT_FINDINGS


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run_id(procedure: str, now: datetime) -> str:
    return f"{procedure}-{now.strftime('%Y%m%dT%H%M%SZ')}-{_random.token_hex(2)}"


class Redactor:
    """Scrubs text from outside the tool of every secret value this run knows (class 9.1).

    Known values: every regular file in the secrets dir — base files, version files, temp files
    — read again at each call (a rotation writes new versions as it goes) and remembered (a
    version removed by the rotation stays known), plus values only in memory (the new exchange
    keys before they are written). core.redact.Redactor replaces each, raw and encoded; it is
    rebuilt only when a call found a value it did not know. Files are read bounded (Docker's
    secret limit), regular files only. `at_once` scrubs the many texts of one report after a
    single read of the store."""

    def __init__(self, project: Project, extra: Iterable[bytes] = ()) -> None:
        self.project = project
        self.values: set[bytes] = {v for v in extra if v}
        self._redactor: CoreRedactor | None = None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        self.refresh()
        return self._scrub(text)

    def at_once(self) -> Callable[[str], str]:
        """The scrubber of texts that all exist already (one report's): the store read once now,
        not at each text (a report of status has hundreds; nothing new can be in them)."""
        self.refresh()
        return lambda text: self._scrub(text) if text else text

    def _scrub(self, text: str) -> str:
        if self._redactor is None:
            self._redactor = CoreRedactor(self.values)  # as core.redact.redact builds it
        return self._redactor(text)

    def refresh(self) -> None:
        try:
            directory = self.project.secrets_dir
            entries = list(directory.iterdir()) if directory.is_dir() else []
            # a `file:` in a subdir (db/password.txt) and its versions
            entries += [p for _, p in fs.store_files(directory, self.project.manifest.files)]
        except (TitanError, OSError):
            return
        for path in entries:
            try:  # bounded, regular files only: never a FIFO or a device
                value = fs.read_secret(path)
            except OSError:
                continue
            if value and value not in self.values:
                self.values.add(value)
                self._redactor = None


def save_fn(project: Project) -> Callable[[Journal], None]:
    hooks = Hooks()
    return lambda journal: journal_io.save(project, journal, before_replace=hooks.mid_write)


def existing_versions(project: Project, secret: str) -> tuple[int, ...]:
    """The version numbers of `secret` that have a file in the secrets dir (sorted)."""
    names = [name for name, _ in fs.store_files(project.secrets_dir, project.manifest.files)]
    return parse_version_files(names, secret)


def refuse_if_active(journal: Journal, manifest: Manifest | None = None) -> None:
    """Refuse (exit 1) to start a rotation while one is in flight, saying what finishes it:
    resume or abort, or only abort when the manifest changed in a way resume refuses."""
    active = journal.active
    if active is not None:
        where = f"step {active.done + 1}/{len(active.steps)}"
        blocked = manifest is not None and resume_refusal(manifest, journal)
        what = (
            "then `rotate abort` (the manifest changed since it started: resume refuses)"
            if blocked
            else "then `rotate resume` or `rotate abort`"
        )
        raise Refused(
            f"a {active.procedure} rotation ({active.id}) is in flight ({active.mode}, {where}): "
            f"run `titan-deploy rotate status`, {what}"
        )


def clean_stale_temps(project: Project) -> list[str]:
    """Remove temp files an interrupted atomic write left (secrets dir, the dirs of its `file:`
    secrets, state dir).

    Only fs.atomic_write's own pattern `.<name>.tmp-<pid>`, only for a dead pid: a stale temp
    file of a secret is secret material lying around under a name nothing claims."""
    removed = []
    subdirs = sorted({f.rpartition("/")[0] for f in project.manifest.files.values()} - {""})
    places = [(project.secrets_dir / d, d + "/") for d in subdirs]  # `file:` dirs
    for directory, prefix in [(project.secrets_dir, ""), (project.state_dir, ""), *places]:
        if not directory.is_dir() or (prefix and directory.is_symlink()):
            continue
        for entry in sorted(os.listdir(directory)):
            match = _TEMP_RE.match(entry)
            if not match or not _ours(project, prefix + match["name"]):
                continue
            pid = int(match["pid"])
            if pid == os.getpid() or journal_io.pid_alive(pid):
                continue
            in_store = directory != project.state_dir
            root = project.secrets_root if in_store else project.project_dir
            fs.unlink(directory / entry, root=root)
            removed.append(entry)
    return removed


def _ours(project: Project, name: str) -> bool:
    if name == journal_io.STATE_FILE:
        return True
    if versions.store_entry(name, project.manifest.files) is not None:
        return True
    try:  # a secret the manifest dropped while a rotation of it is in flight
        manifest = effective_manifest(project.manifest, journal_io.load(project))
    except TitanError:
        return False
    return versions.owner(name, manifest.secrets) is not None


def pick_pending(journal: Journal, secret: str | None) -> str:
    if secret:
        if secret not in journal.pending:
            raise UsageError(f"{secret} has no HMAC phase 1 awaiting phase 2")
        return secret
    if len(journal.pending) != 1:
        names = ", ".join(sorted(journal.pending)) or "none"
        raise UsageError(f"name the secret with --secret (awaiting phase 2: {names})")
    return next(iter(journal.pending))


def describe_active(active: Active) -> str:
    n = len(active.steps)
    if active.in_progress is not None:
        where = f"step {active.in_progress + 1}/{n} was running ({active.done} done)"
    else:
        where = f"{active.done}/{n} steps done"
    return f"{active.procedure} ({active.mode}) {active.id}: {where}"
