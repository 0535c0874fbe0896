"""`render`: write the overlay from the manifest (and any rotation in flight); `--check` diffs.

Refuses (exit 2) a consumer service that none of the compose files defines: an overlay must never
invent a half-defined service, which compose would otherwise accept as a service with no image.
"""

from __future__ import annotations

import os
from pathlib import Path

from titan_deploy.core.findings import Report
from titan_deploy.core.overlay import OverlayPlan, base_compose, plan_overlay, render_overlay
from titan_deploy.core.rotation.manifestchange import effective_manifest
from titan_deploy.core.yamlpos import load_file
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs
from titan_deploy.io import journal as journal_io
from titan_deploy.project import Project


def current_plan(project: Project) -> OverlayPlan:
    """The overlay plan for the manifest plus the rotation state on disk, pointing into the
    secrets dir in use (`--secrets-dir` wins over the manifest's, for every command). While a
    rotation is in flight its secrets' consumers are as the journal froze them
    (core/rotation/manifestchange.py): a manifest edited mid-rotation never drops a mount the
    rotation relies on."""
    journal = journal_io.load(project)
    manifest = effective_manifest(project.manifest, journal)
    base = base_compose(base_documents(project))
    return plan_overlay(manifest, journal.assignments, project.secrets_dir_rel, base)


def base_documents(project: Project) -> list[object]:
    """The base compose files (`-f`, without the overlay) parsed, in order."""
    overlay = os.path.abspath(project.path(project.manifest.overlay))
    files = [f for f in project.compose_files if os.path.abspath(project.path(f)) != overlay]
    return [load_file(project.path(f), display=f).value for f in files]


def defined_services(project: Project) -> set[str]:
    names: set[str] = set()
    for file in project.compose_files:
        doc = load_file(project.path(file), display=file).value or {}
        services = doc.get("services") if isinstance(doc, dict) else None
        if isinstance(services, dict):
            names.update(str(name) for name in services)
    return names


def check_consumers_exist(project: Project) -> None:
    defined = defined_services(project)
    manifest = effective_manifest(project.manifest, journal_io.load(project))
    missing = [s for s in manifest.services if s not in defined]
    if missing:
        files = ", ".join(project.compose_files)
        raise ConfigError(
            f"{project.manifest_option}: consumer service(s) {', '.join(missing)} not defined in "
            f"{files}; fix the manifest or the compose file (the overlay never invents a service)"
        )


def run_render(project: Project, check: bool = False) -> Report:
    check_consumers_exist(project)
    text = render_overlay(current_plan(project))
    target = project.overlay_path
    on_disk = _on_disk(target, project.manifest.overlay)
    report = Report("render")
    report.data = {"overlay": str(target), "changed": on_disk != text}
    if check:
        report.failed = on_disk != text
        report.summary = (
            f"{project.manifest.overlay} is up to date"
            if on_disk == text
            else f"{project.manifest.overlay} differs from the manifest: run `titan-deploy render`"
        )
        return report
    if on_disk != text:  # confined to the project dir, never through a symlink (issue 9.2)
        refuse_foreign(on_disk, project.manifest.overlay)
        fs.atomic_write(target, text.encode(), mode=0o644, root=project.project_dir)
    report.summary = f"wrote {project.manifest.overlay}" if on_disk != text else "overlay unchanged"
    return report


OWN_MARK = "# Rendered by titan-deploy"


def refuse_foreign(on_disk: str | None, shown: str) -> None:
    """UnsafePath (exit 2) when the overlay path holds a file titan-deploy did not render (no
    OWN_MARK first line): an operator's compose file given with -f, `.gitignore`, `.env`, a
    README. `render` replaces only a missing file or one it wrote itself (issue 9.2)."""
    if on_disk is not None and not on_disk.startswith(OWN_MARK):
        raise fs.UnsafePath(
            f"overlay: {shown} exists and was not rendered by titan-deploy (its first line is "
            f"not `{OWN_MARK} ...`): refusing to overwrite it; name another file in the "
            "manifest's `overlay`, or move that file away"
        )


def _on_disk(target: Path, shown: str) -> str | None:
    """The overlay on disk (None if missing): a regular file read bounded, never a symlink."""
    try:
        return fs.read_config(target, follow_symlinks=False).decode("utf-8")
    except FileNotFoundError:
        return None
    except fs.UnsafeFile as exc:
        raise fs.UnsafePath(
            f"{shown} {exc.reason}: render writes only a regular file it owns"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read: {type(exc).__name__}") from None
