"""`init`: create the secrets dir from the manifest, generating what can be generated.

Never overwrites an existing secret. Operator-supplied secrets (exchange keys) come from
`--from DIR` or are left as placeholder files for the operator to fill in; check-secrets flags
those until they hold real values.
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.checks import expected_dir_mode, expected_file_mode
from titan_deploy.core.findings import Report, warning
from titan_deploy.core.secretvalue import generate
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs
from titan_deploy.project import Project

PLACEHOLDER = b"__CHANGE_ME__"


def run_init(project: Project, from_dir: Path | None = None) -> Report:
    manifest = project.manifest
    gid = manifest.secrets_gid
    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: not a directory")
    secrets_dir = project.secrets_dir
    created_dir = fs.ensure_dir(secrets_dir, expected_dir_mode(gid), gid)
    report = Report("init", columns=["secret", "action"])
    mode = expected_file_mode(gid)
    for spec in manifest.secrets.values():
        action = _provision(secrets_dir / spec.name, spec, from_dir, mode, gid)
        report.rows.append({"secret": spec.name, "action": action})
        if action == "to fill in":
            report.findings.append(
                warning(
                    "I001",
                    f"{project.secrets_dir_rel}/{spec.name} holds a placeholder: write the value",
                    secret=spec.name,
                    fix=_example_hint(project),
                )
            )
    ignored = fs.ensure_gitignored(
        project.project_dir,
        [f"/{project.secrets_dir_rel}/", "/.env", f"/{manifest.state_dir}/"],
    )
    report.data = {
        "secrets_dir": str(secrets_dir),
        "created_dir": created_dir,
        "gitignore_added": ignored,
    }
    todo = sum(1 for row in report.rows if row["action"] == "to fill in")
    report.summary = (
        f"{project.secrets_dir_rel}/: {len(report.rows)} secrets, {todo} to fill in"
        + (" — then run `titan-deploy check-secrets`" if todo else "")
    )
    return report


def _example_hint(project: Project) -> str:
    """Where the operator finds what to write: the configured example dir's README, if any."""
    readme = project.example_dir / "README.md"
    if not readme.is_file():
        return "write the value the manifest's description asks for"
    try:
        return f"see {readme.relative_to(project.project_dir)}"
    except ValueError:
        return f"see {readme}"


def _provision(path: Path, spec, from_dir: Path | None, mode: int, gid: int | None) -> str:
    if path.exists() or path.is_symlink():
        return "kept (exists)"
    if from_dir is not None and (from_dir / spec.name).is_file():
        fs.write_new(path, (from_dir / spec.name).read_bytes(), mode, gid)
        return "copied"
    if spec.generate:
        fs.write_new(path, generate(spec), mode, gid)
        return "generated"
    fs.write_new(path, PLACEHOLDER, mode, gid)
    return "to fill in"
