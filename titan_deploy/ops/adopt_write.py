"""adopt's writes (README "Adopting an existing project"): the secret files, the manifest,
the overlay (validated by Compose) and the env files without the adopted lines, each atomic."""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

from titan_deploy.core.adopt import AdoptPlan
from titan_deploy.core.adopt_render import merged_manifest, new_manifest, rewrite_env
from titan_deploy.core.checks import expected_dir_mode, expected_file_mode
from titan_deploy.core.manifest import Manifest, parse_manifest_text
from titan_deploy.errors import ConfigError
from titan_deploy.io import compose, fs, gitfiles
from titan_deploy.ops.init import ENV_IGNORES
from titan_deploy.project import Project

DEFAULT_OVERLAY = "docker-compose.secrets.yml"  # the overlay a new manifest names


def write(
    project: Project,
    manifest: Manifest | None,
    compose_files: list[str],
    plan: AdoptPlan,
    values: dict[str, bytes],
    gid: int | None,
    compose_for: compose.ComposeFactory,
) -> list[str]:
    """Write the secrets, the manifest, the overlay (validated by Compose like `render`'s:
    rejected, it is not written and the env files are left as they were: exit 2) and the
    env files without the adopted lines; returns what was written."""
    root = project.project_dir
    manifest_body = manifest_text(project, manifest, compose_files, plan, gid)
    for edit in plan.edits:  # before anything is written: every env file can be rewritten
        preflight(project, edit.file)
    secrets_dir = project.path(plan.secrets[0].file).parent
    fs.ensure_dir(secrets_dir, expected_dir_mode(gid), gid, root=root)
    written = []
    for s in plan.secrets:
        if fs.write_new(
            project.path(s.file), values[s.name], expected_file_mode(gid), gid, root=root
        ):
            written.append(s.file)
    if manifest_body is not None:
        fs.atomic_write(project.manifest_path, manifest_body.encode(), mode=0o644, root=root)
        written.append(str(project.manifest_option))
    fresh = replace(project)  # every option kept (--profile, --env-file); nothing cached
    from titan_deploy.ops.render import run_render

    if run_render(fresh, compose_for=compose_for).data.get("changed"):
        written.append(fresh.manifest.overlay)
    state = fresh.state_dir
    for edit in plan.edits:
        written += rewrite(project, state, edit)
    # as `init` adds them: the env files adopt just emptied of secrets (`.env.prod`) stay
    # local settings, and their 0600 backups sit in the state dir
    entries = [
        f"/{plan.secrets[0].file.rsplit('/', 1)[0]}/",
        "/.env",
        f"/{fresh.manifest.state_dir}/",
        *ENV_IGNORES,
    ]
    try:
        if gitfiles.ensure_gitignored(root, entries):
            written.append(".gitignore")
    except fs.UnsafePath:
        pass  # init reports it (I003); the secrets are written either way
    return written


def manifest_text(
    project: Project,
    manifest: Manifest | None,
    compose_files: list[str],
    plan: AdoptPlan,
    gid: int | None,
) -> str | None:
    """The manifest to write (None: unchanged), validated as the manifest parser reads it."""
    shown = str(project.manifest_option)
    if manifest is None:
        secrets_dir = plan.secrets[0].file.rsplit("/", 1)[0]
        text = new_manifest(plan, compose_files, DEFAULT_OVERLAY, secrets_dir, gid)
    else:
        current = fs.read_config(project.manifest_path, follow_symlinks=False).decode("utf-8")
        merged = merged_manifest(current, plan)
        if merged is None:
            raise ConfigError(
                f"{shown}: no block-style `secrets:` line to add the adopted entries under; "
                "run `titan-deploy adopt --dry-run --json` and add them by hand"
            )
        if merged == current:
            return None
        text = merged
    parse_manifest_text(text, shown)  # a ConfigError here names the line adopt got wrong
    return text


def preflight(project: Project, relative: str) -> None:
    """UnsafePath (exit 2) unless `relative` is a regular file adopt may replace: not a
    symlink (the write would not reach the file compose reads), inside the project dir."""
    path = project.path(relative)
    if path.is_symlink():
        raise fs.UnsafePath(
            f"{relative} is a symlink: adopt rewrites a regular file only (never through a "
            "link); point env_file: at the real file, then run adopt again"
        )
    if not path.resolve().is_relative_to(project.project_dir):
        raise fs.UnsafePath(f"{relative} is outside the project dir: adopt rewrites inside it only")


def rewrite(project: Project, state: Path, edit) -> list[str]:
    """Back up one env file (0600, in the state dir) and rewrite it without the adopted lines."""
    root = project.project_dir
    path = project.path(edit.file)
    raw = fs.read_config(path, follow_symlinks=False)
    mode = path.stat().st_mode & 0o777
    backups = state / "adopt"
    fs.ensure_dir(backups, 0o700, root=root)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = edit.file.replace("/", "__")
    n = 0
    while True:
        name = f"{base}.{stamp}" + (f".{n}" if n else "")
        if fs.write_new(backups / name, raw, 0o600, root=root):
            break
        n += 1
    text = rewrite_env(raw.decode("utf-8"), edit)
    fs.atomic_write(path, text.encode(), mode=mode, root=root)
    backup = (backups / name).relative_to(root).as_posix()
    return [f"{edit.file} (backup {backup})"]


def backups_of(written: list[str]) -> dict[str, str]:
    out = {}
    for item in written:
        if " (backup " in item:
            file, _, rest = item.partition(" (backup ")
            out[file] = rest.rstrip(")")
    return out
