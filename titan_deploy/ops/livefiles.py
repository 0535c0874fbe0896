"""The files of live mounts on disk (core/livemount.py, README "Reload and proofs"): each
reloading consumer's directory `<secrets_dir>/.live/<service>/<secret>/` holds one file, named
as its target, equal to the version the overlay assigns it. Written whenever the overlay is
rendered (`render`, `up`, every rotation step that repoints), atomically (a new inode renamed
into the directory: the running container sees the new file at once, a reader never sees half
of one), with the secrets' mode and group, and only when the content differs.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from titan_deploy.core.checks import expected_dir_mode, expected_file_mode
from titan_deploy.core.livemount import LIVE_DIR
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.io import fs
from titan_deploy.project import Project


def sync_live(project: Project, plan: OverlayPlan) -> list[str]:
    """Bring every live mount's file of `plan` to its assigned version; returns the container
    paths changed, as `service:path` (never a value). A missing source file is skipped (the
    overlay's own checks name it); OSError from the writes."""
    gid = project.manifest.secrets_gid
    files = dict(plan.files)
    changed = []
    for svc in plan.services:
        for mount in svc.mounts:
            if mount.live_dir is None:
                continue
            source = project.project_dir / files[mount.source]
            try:
                data = fs.read_secret(source)
            except OSError:
                continue
            directory = project.secrets_dir / LIVE_DIR / svc.service / mount.secret
            target = directory / posixpath.basename(mount.container_path)
            if _current(target) == data:
                continue
            fs.ensure_dirs(directory, expected_dir_mode(gid), gid, root=project.secrets_dir)
            fs.atomic_write(target, data, expected_file_mode(gid), gid, root=project.secrets_root)
            changed.append(f"{svc.service}:{mount.container_path}")
    return changed


def _current(path: Path) -> bytes | None:
    try:
        return fs.read_secret(path)
    except OSError:
        return None
