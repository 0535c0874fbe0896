"""`titan-deploy pull [--force] [--dry-run]` (README "Secrets managers"): break-glass copy of the
backend's current values into the secrets dir. Each secret's current file (the version its
consumers use, else the base file) is written atomically with the secrets dir's mode and group;
a local file holding a different value is left alone unless `--force` (then replaced atomically:
a new inode, so a container that bind-mounts the old file keeps reading the old one until it is
recreated). A backend value check-secrets would reject (a NUL byte, too large, the wrong kind)
is `refused`, as push refuses it: never written. Never prints a value.
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.backend import pull_action, summary_counts
from titan_deploy.core.checks import expected_dir_mode, expected_file_mode
from titan_deploy.core.findings import Finding, Report, error
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.ops.push import Opener, connect, current_file, rejected
from titan_deploy.project import Project

COLUMNS = ["secret", "location", "action", "version"]
WRITES = ("write", "replace")


def run_pull(
    project: Project, *, force: bool = False, dry_run: bool = False, opener: Opener | None = None
) -> Report:
    """Write each backend value whose local file is missing (or, with `force`, differs).
    Exit 1 when a secret is not in the backend, differs locally without --force, or its
    backend value is one check-secrets rejects (`refused`, not written); 2 no
    backend in the manifest; 3 the backend unreachable or refusing, or a write failing."""
    from titan_deploy.io import fs

    backend = connect(project, opener)
    config = backend.config
    manifest = project.manifest
    gid = manifest.secrets_gid
    report = Report("pull", columns=COLUMNS)
    if not dry_run:
        fs.ensure_dir(project.secrets_dir, expected_dir_mode(gid), gid, root=project.secrets_root)
    written: list[str] = []
    for spec in manifest.stored.values():
        path = current_file(project, spec)
        shown = Path(project.secrets_dir_rel) / path.name
        remote = backend.read(spec.name)
        local: bytes | None
        try:
            local = fs.read_secret(path)
        except FileNotFoundError:
            local = None
        except fs.TooLarge:
            local = b""  # differs from any value a backend may hold (an empty one is refused)
        action = pull_action(remote, local, force)
        if remote is not None and action in WRITES:
            problems = rejected(spec, remote.value, shown, project)
            if problems:
                action = "refused"
                report.findings += problems
        if remote is not None and action in WRITES and not dry_run:
            if path.parent != project.secrets_dir:
                mode = expected_dir_mode(gid)
                fs.ensure_dirs(path.parent, mode, gid, root=project.secrets_dir)
            fs.atomic_write(
                path, remote.value, mode=expected_file_mode(gid), gid=gid, root=project.secrets_root
            )
            written.append(spec.name)
        finding = _finding(action, spec, shown, config.location(spec.name))
        if finding:
            report.findings.append(finding)
        row = {"secret": spec.name, "location": config.location(spec.name), "action": action}
        report.rows.append({**row, "version": remote.version if remote else ""})
    counts = summary_counts(report.rows)
    report.data = {"backend": config.type, "dry_run": dry_run, "counts": counts}
    report.data["secrets"] = written
    writes = counts.get("write", 0) + counts.get("replace", 0)
    others = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()) if a not in WRITES)
    verb = "would write" if dry_run else "wrote"
    report.summary = f"{verb} {writes}" + (f"; {others}" if others else "")
    return report


def _finding(action: str, spec: SecretSpec, shown: Path, location: str) -> Finding | None:
    if action == "absent":
        return error(
            "B002",
            f"{location} does not exist in the backend: nothing to pull",
            secret=spec.name,
            fix="titan-deploy push (from a host that has it)",
        )
    if action == "differs":
        return error(
            "B003",
            f"{shown} holds another value than {location}: left as it is",
            secret=spec.name,
            fix="titan-deploy pull --force replaces it (or push the local value)",
        )
    return None
