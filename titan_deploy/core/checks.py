"""The secret-store preflight (README "What `check-secrets` checks"): take a directory, return
findings and safe fixes.

Nothing here prints or changes anything. Fixes are returned as data (`Fix`) so `check-secrets
--fix` can apply exactly the mechanical ones — permissions, group, whitespace around the value —
and a test can see which would be applied.

Hints name the configured paths (the secrets dir as shown, the example dir), never a default.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from titan_deploy.core.fileread import TooLarge, UnsafeFile, read_bounded
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.limits import LIMIT_TEXT, MAX_SECRET_BYTES
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.secretvalue import (
    trimmed,
)
from titan_deploy.core.valuechecks import Where, content_findings, missing_fix
from titan_deploy.core.valuechecks import example_label as shown_example
from titan_deploy.core.versions import file_name, owner, store_entry

IGNORED_NAMES = {".gitignore", "README.md", ".keep", ".live"}  # .live: core/livemount.py


@dataclass(frozen=True)
class Fix:
    """One mechanical repair: chmod, chgrp, or strip the whitespace around a value
    (`secretvalue.stripped`: a multi-line value keeps one final newline)."""

    action: str  # "chmod" | "chgrp" | "strip-whitespace"
    path: Path
    mode: int | None = None
    gid: int | None = None
    multiline: bool = False


@dataclass(frozen=True)
class GitFacts:
    """What git says about the secrets dir (gathered by io, so this module stays pure)."""

    in_repo: bool = False
    tracked: frozenset[str] = frozenset()
    ignored: bool = True
    available: bool = True  # False: no `git` program, the git checks could not run


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    values: dict[str, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show values
        return f"CheckResult(findings={len(self.findings)}, fixes={len(self.fixes)})"


def expected_file_mode(gid: int | None) -> int:
    return 0o640 if gid is not None else 0o600


def expected_dir_mode(gid: int | None) -> int:
    return 0o750 if gid is not None else 0o700


def check_store(
    manifest: Manifest,
    secrets_dir: Path,
    example_dir: Path | None = None,
    git: GitFacts | None = None,
    label: str | None = None,
    uid: int | None = None,
    example_label: str | None = None,
    names: Iterable[str] = (),
    mounted: Mapping[str, Iterable[int]] | None = None,
) -> CheckResult:
    """Every check (README "What `check-secrets` checks") over `secrets_dir`. Values are kept in
    the result for later comparisons (verify), never rendered.

    `label` is how the secrets dir is shown (default: its name), `example_label` how the example
    dir is shown in hints (default: its name); `names` are more names a value must not equal
    (the compose project's), besides the manifest's secrets and services. `uid`: the user the
    tool runs as (default: the effective uid); a secret owned by anyone else than that user or
    root is an error. `mounted`: secret -> the versions its consumers mount (the journal's
    assignments); each such version file gets the same mode/group/owner/link checks and
    fixes as the base file (a consumer mounts it, not the base)."""
    result = CheckResult()
    if secrets_dir.is_symlink():
        result.findings.append(_dir_symlink(secrets_dir, label))
        return result
    if not secrets_dir.is_dir():
        result.findings.append(
            error(
                "S001",
                f"secrets dir {secrets_dir} does not exist",
                fix="titan-deploy init",
            )
        )
        return result
    _check_dir(manifest, secrets_dir, result)
    where = Where(
        shown=Path(label or secrets_dir.name),
        example_dir=example_dir,
        example_label=shown_example(example_dir, example_label),
        names=(*manifest.secrets, *manifest.services, *names),
    )
    _check_owner(secrets_dir, where.shown, uid, None, result)
    for spec in manifest.secrets.values():
        if spec.is_config:  # rendered by render/up (ops/configs.py): its mode, once it exists
            _check_version_file(manifest, spec, None, secrets_dir, where.shown, uid, result)
        else:
            _check_secret(manifest, spec, secrets_dir, where, result)
            path, shown = spec.path_in(secrets_dir), where.shown / spec.file_name
            _check_owner_and_links(spec, path, shown, uid, result)
        for version in sorted(set((mounted or {}).get(spec.name, ()))):
            _check_version_file(manifest, spec, version, secrets_dir, where.shown, uid, result)
    _check_duplicates(result)
    _check_strays(manifest, secrets_dir, result, label)
    if git is not None:
        _check_git(where.shown, git, result)
        _check_git_available(git, result)
    return result


def _dir_symlink(secrets_dir: Path, label: str | None) -> Finding:
    return error(
        "S017",
        f"secrets dir {label or secrets_dir} is a symlink: titan-deploy never reads or writes "
        "secrets through one",
        fix="point secrets_dir (or --secrets-dir) at the real directory",
    )


def _check_dir(manifest: Manifest, secrets_dir: Path, result: CheckResult) -> None:
    st = secrets_dir.stat()
    gid = manifest.secrets_gid
    mode = stat.S_IMODE(st.st_mode)
    allowed_extra = 0o750 if gid is not None else 0o700
    if mode & ~allowed_extra & 0o777:
        result.findings.append(
            error(
                "S015",
                f"secrets dir {secrets_dir} is mode {mode:04o}; expected {allowed_extra:04o}",
                fix="titan-deploy check-secrets --fix",
            )
        )
        result.fixes.append(Fix("chmod", secrets_dir, mode=expected_dir_mode(gid)))
    if gid is not None and st.st_gid != gid:
        result.findings.append(
            error(
                "S016",
                f"secrets dir {secrets_dir} is not owned by group {gid} (secrets_gid)",
                fix="titan-deploy check-secrets --fix (needs root or membership of the group)",
            )
        )
        result.fixes.append(Fix("chgrp", secrets_dir, gid=gid))


def _check_secret(
    manifest: Manifest,
    spec: SecretSpec,
    secrets_dir: Path,
    where: Where,
    result: CheckResult,
) -> None:
    path = spec.path_in(secrets_dir)
    shown = where.shown / spec.file_name
    problem = _file_problem(path, secrets_dir, shown)
    if problem:
        result.findings.append(error(*problem, secret=spec.name, fix=missing_fix(spec, where)))
        return
    raw = _read_secret(spec, path, shown, result)
    if raw is None:
        return
    findings = list(content_findings(spec, raw, shown, where))
    findings += _mode_findings(manifest, spec, path, shown, result)
    result.findings.extend(findings)
    if any(f.code == "S005" for f in findings):  # whitespace only: no NUL, no CR, one line
        result.fixes.append(Fix("strip-whitespace", path, multiline=spec.is_multiline))
    if not any(f.severity == "error" and f.code in CONTENT_ERRORS for f in findings):
        result.values[spec.name] = trimmed(raw)


CONTENT_ERRORS = {"S003", "S004", "S006", "S007", "S008"}


def _check_version_file(
    manifest: Manifest,
    spec: SecretSpec,
    version: int | None,
    secrets_dir: Path,
    shown_dir: Path,
    uid: int | None,
    result: CheckResult,
) -> None:
    """Mode, group, owner and hard links of a version file a consumer mounts (content and a
    missing file are rotate's and drift's to report), or of a config's rendered file (version
    None). Never through a symlink."""
    name = file_name(spec.file_name, version)
    path = secrets_dir / name
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or _file_problem(path, secrets_dir, shown_dir / name):
        return
    shown = shown_dir / name
    result.findings.extend(_mode_findings(manifest, spec, path, shown, result))
    _check_owner_and_links(spec, path, shown, uid, result)


def _read_secret(spec: SecretSpec, path: Path, shown: Path, result: CheckResult) -> bytes | None:
    """The file's bytes, read bounded (never more than the limit + 1 byte, never a FIFO or
    device); None, with an error finding, when it is too large or not a plain file."""
    try:
        return read_bounded(path, MAX_SECRET_BYTES)
    except TooLarge as exc:
        result.findings.append(
            error(
                "S008",
                f"{shown} is too large ({_kib(exc.size)}): over {LIMIT_TEXT}",
                secret=spec.name,
            )
        )
    except UnsafeFile as exc:
        result.findings.append(error("S002", f"{shown} {exc.reason}", secret=spec.name))
    except OSError as exc:
        result.findings.append(
            error(
                "S002", f"{shown} cannot be read: {exc.strerror or 'I/O error'}", secret=spec.name
            )
        )
    return None


def _kib(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} bytes"


def _check_owner_and_links(
    spec: SecretSpec, path: Path, shown: Path, uid: int | None, result: CheckResult
) -> None:
    """A secret with more than one hard link has its content under another name too (outside
    the tool's control, maybe outside the secrets dir); one owned by another user can be changed
    by that user. Both are errors; neither is fixed by --fix."""
    try:
        st = path.stat()
    except OSError:
        return  # missing or unreadable: reported by _check_secret
    if not stat.S_ISREG(st.st_mode):
        return
    if st.st_nlink > 1:
        result.findings.append(
            error(
                "S018",
                f"{shown} has {st.st_nlink} hard links: its content is also reachable under "
                "another name, and a mode change would change that file too",
                secret=spec.name,
                fix=f"replace it with a copy: cp -p {shown} {shown}.tmp && mv {shown}.tmp {shown}",
            )
        )
    _check_owner(path, shown, uid, spec.name, result)


def _check_owner(
    path: Path, shown: Path, uid: int | None, secret: str | None, result: CheckResult
) -> None:
    """A secret file (or the secrets dir) owned by another user than the deploying user or root:
    that user can change or replace the secrets."""
    try:
        owner = path.stat().st_uid
    except OSError:
        return
    me = os.geteuid() if uid is None else uid
    if owner not in (me, 0):
        result.findings.append(
            error(
                "S019",
                f"{shown} is owned by uid {owner}, not by the deploying user (uid {me}) or "
                "root: that user can change or replace the secrets",
                secret=secret,
                fix=f"chown {me} {shown} (as root)",
            )
        )


def _file_problem(path: Path, secrets_dir: Path, shown: Path) -> tuple[str, str] | None:
    for parent in _dirs_between(secrets_dir, path):  # a `file:` in a subdir (db/password.txt)
        if parent.is_symlink():
            return ("S002", f"{shown}: {parent.name}/ is a symlink (never followed for a secret)")
    if not path.exists() and not path.is_symlink():
        return ("S001", f"{shown} is missing")
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(secrets_dir.resolve()):
            return ("S002", f"{shown} is a symlink that leaves the secrets dir")
        if not target.exists():
            return ("S002", f"{shown} is a dangling symlink")
    if not path.is_file():
        return ("S002", f"{shown} is not a regular file")
    return None


def _dirs_between(secrets_dir: Path, path: Path) -> list[Path]:
    """The directories from the secrets dir (exclusive) down to `path`'s parent."""
    rel = path.parent.relative_to(secrets_dir).parts
    return [secrets_dir.joinpath(*rel[: i + 1]) for i in range(len(rel))]


def _mode_findings(
    manifest: Manifest, spec: SecretSpec, path: Path, shown: Path, result: CheckResult
) -> list[Finding]:
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    gid = manifest.secrets_gid
    out = []
    bad_bits = 0o137 if gid is not None else 0o177
    group_needs_read = gid is not None and not mode & 0o040
    if mode & bad_bits or group_needs_read:
        want = expected_file_mode(gid)
        why = "grants access beyond the owner" if gid is None else "must be 0640 or 0440"
        out.append(
            error(
                "S009",
                f"{shown} is mode {mode:04o}: {why} (expected {want:04o})",
                secret=spec.name,
                fix="titan-deploy check-secrets --fix",
            )
        )
        result.fixes.append(Fix("chmod", path, mode=want))
    if gid is not None and st.st_gid != gid:
        out.append(
            error(
                "S010",
                f"{shown} is not owned by group {gid} (secrets_gid): non-root consumers "
                "cannot read it",
                secret=spec.name,
                fix="titan-deploy check-secrets --fix (needs root or membership of the group)",
            )
        )
        result.fixes.append(Fix("chgrp", path, gid=gid))
    return out


def _check_duplicates(result: CheckResult) -> None:
    by_value: dict[bytes, list[str]] = {}
    for name, value in result.values.items():
        by_value.setdefault(value, []).append(name)
    for names in by_value.values():
        if len(names) > 1:
            result.findings.append(
                warning(
                    "S013",
                    f"secrets {', '.join(names)} share the same value",
                    secret=names[0],
                )
            )


def _check_strays(
    manifest: Manifest, secrets_dir: Path, result: CheckResult, label: str | None
) -> None:
    subdirs = {f.split("/", 1)[0] for f in manifest.files.values() if "/" in f}
    for entry in sorted(os.listdir(secrets_dir)):
        if entry in manifest.secrets or entry in IGNORED_NAMES or _is_version(manifest, entry):
            continue
        if entry in subdirs:  # a `file:` dir (db/password.txt): its files are the secrets'
            continue
        result.findings.append(
            warning(
                "S014",
                f"{Path(label or secrets_dir.name) / entry} is claimed by no manifest secret",
                fix="remove it, or add the secret to the manifest",
            )
        )


def _is_version(manifest: Manifest, entry: str) -> bool:
    """A version of a secret, or the file (or a version) a top-level `file:` names."""
    return (
        owner(entry, manifest.secrets) is not None or store_entry(entry, manifest.files) is not None
    )


def _check_git_available(git: GitFacts, result: CheckResult) -> None:
    if not git.available:
        result.findings.append(
            warning(
                "S020",
                "git not found: tracked/ignored checks skipped",
                fix="install git (apt-get install git) and run check-secrets again",
            )
        )


def _check_git(shown: Path, git: GitFacts, result: CheckResult) -> None:
    if not git.in_repo:
        return
    for tracked in sorted(git.tracked):
        result.findings.append(
            error(
                "S011",
                f"{tracked} is tracked by git: remove it from the index and rotate the secret",
                fix=f"git rm --cached {tracked}, then rotate it",
            )
        )
    if not git.ignored:
        result.findings.append(
            error(
                "S012",
                f"{shown.as_posix()}/ is not git-ignored",
                fix=f"add '/{shown.as_posix()}/' to .gitignore (titan-deploy init does)",
            )
        )
