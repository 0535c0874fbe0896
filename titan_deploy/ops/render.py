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
from titan_deploy.errors import ConfigError
from titan_deploy.io import composerun, fs
from titan_deploy.io import journal as journal_io
from titan_deploy.io.compose import ComposeFactory
from titan_deploy.io.composefiles import ComposeDoc, load_compose_files
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
    """The base compose files (`-f`, without the overlay) parsed, in merge order, each preceded
    by the files its `include:` names (io/composefiles.py)."""
    return [doc.value for doc in base_files(project)]


def base_files(project: Project) -> list[ComposeDoc]:
    """The base compose files (without the overlay) and what they include, parsed."""
    overlay = os.path.abspath(project.path(project.manifest.overlay))
    files = [f for f in project.compose_files if os.path.abspath(project.path(f)) != overlay]
    return load_compose_files(project.project_dir, files)


def service_profiles(docs: list[object]) -> dict[str, tuple[str, ...]]:
    """Each service of the documents -> the profiles it is in (() = always active)."""
    out: dict[str, tuple[str, ...]] = {}
    for doc in docs:
        services = doc.get("services") if isinstance(doc, dict) else None
        for name, body in services.items() if isinstance(services, dict) else ():
            profiles = body.get("profiles") if isinstance(body, dict) else None
            if isinstance(profiles, list):
                out[str(name)] = tuple(str(p) for p in profiles)
            else:
                out.setdefault(str(name), ())
    return out


def defined_services(project: Project) -> set[str]:
    """Every service the base compose files (and their includes) define."""
    return set(service_profiles(base_documents(project)))


def check_consumers_exist(project: Project) -> None:
    defined = defined_services(project)
    manifest = effective_manifest(project.manifest, journal_io.load(project))
    missing = [s for s in manifest.services if s not in defined]
    if missing:
        files = ", ".join(project.compose_files)  # (and what they include)
        raise ConfigError(
            f"{project.manifest_option}: consumer service(s) {', '.join(missing)} not defined in "
            f"{files}; fix the manifest or the compose file (the overlay never invents a service)"
        )


def run_render(
    project: Project, check: bool = False, compose_for: ComposeFactory | None = None
) -> Report:
    """Render the overlay; with `check`, only compare it with the file on disk (exit 1 when it
    differs). With `compose_for` (the CLI's `render` and `up`), Compose first validates the
    merged result — the base files plus the NEW overlay, written to a temp file beside it —
    with `config --quiet`, and the overlay reaches its place only if Compose accepts it:
    ComposeRejected (exit 2, Compose's message; the CLI scrubs it) leaves the old file as it
    was. Without Compose v2 installed the overlay is written unvalidated (`data.validated`)."""
    check_consumers_exist(project)
    plan = current_plan(project)
    text = render_overlay(plan)
    target = project.overlay_path
    shown = project.manifest.overlay
    on_disk = _on_disk(target, shown)
    report = Report("render")
    report.data = {"overlay": str(target), "changed": on_disk != text}
    if check:
        report.failed = on_disk != text
        report.summary = (
            f"{shown} is up to date"
            if on_disk == text
            else f"{shown} differs from the manifest: run `titan-deploy render`"
        )
        return report
    validator = _Validator(project, compose_for) if compose_for is not None else None
    configs = _write_configs(project, report)
    if on_disk != text:  # confined to the project dir, never through a symlink (issue 9.2)
        refuse_foreign(on_disk, shown)
        fs.atomic_write(
            target, text.encode(), mode=0o644, root=project.project_dir, before_replace=validator
        )
    report.summary = f"wrote {shown}" if on_disk != text else "overlay unchanged"
    report.summary += configs + _sync_live(project, plan, report)
    if validator is not None and on_disk != text:
        report.data["validated"] = validator.validated
        if not validator.validated:
            report.summary += " (not validated: Compose v2 is not installed)"
    return report


def _write_configs(project: Project, report: Report) -> str:
    """Render the config files into the secrets dir (ops/configs.py, README "Config files");
    `data.configs` says what happened to each; the summary's words for them ("" without)."""
    if not project.manifest.configs:
        return ""
    from titan_deploy.ops.configs import write_configs

    done = write_configs(project)
    report.data["configs"] = done
    return "; configs: " + ", ".join(f"{name} {what}" for name, what in done.items())


def _sync_live(project: Project, plan: OverlayPlan, report: Report) -> str:
    """The live mounts' files (ops/livefiles.py) brought to their assigned versions."""
    if not any(m.live_dir for svc in plan.services for m in svc.mounts):
        return ""
    from titan_deploy.ops.livefiles import sync_live

    changed = sync_live(project, plan)
    report.data["live"] = changed
    return "; live files updated: " + ", ".join(changed) if changed else ""


class _Validator:
    """`before_replace` of the overlay's atomic write: Compose's `config --quiet` of the base
    files plus the new overlay at `path` (the temp file beside it). An unchanged overlay is not
    validated again: nothing is written (`lint` validates the files as they are)."""

    def __init__(self, project: Project, compose_for: ComposeFactory) -> None:
        self.project = project
        self.compose_for = compose_for
        self.validated = False

    def __call__(self, path: Path) -> None:
        project = self.project
        overlay = os.path.abspath(project.path(project.manifest.overlay))
        base = [f for f in project.compose_files if os.path.abspath(project.path(f)) != overlay]
        files = [*base, os.path.relpath(path, project.project_dir)]
        try:
            self.compose_for(project.project_dir, files, project.project_name).validate()
        except composerun.ComposeMissing:
            return
        except composerun.ComposeRejected as exc:
            shown = project.manifest.overlay
            said = exc.message.replace(str(path), shown)
            merged = ", ".join([*base, shown])
            exc.message = f"compose rejects the merged result of {merged} (not written): {said}"
            exc.args = (exc.message,)
            raise
        self.validated = True


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
