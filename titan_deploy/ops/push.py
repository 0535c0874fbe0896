"""`titan-deploy push [--dry-run]` (README "Secrets managers"): copy each manifest secret's
current value from the secrets dir into the manifest's backend, as a new version where it
differs; then each config (`configs:`), rendered from those values, into its derived entry
(ops/agent_configs.py). Idempotent: an entry that already holds the value gets no new
version. A value check-secrets would reject (empty, placeholder, wrong kind, too large) is not
pushed. Never prints a value: rows name the secret, its backend path, the action and the new
version.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from titan_deploy.core.backend import BackendConfig, SecretBackend, push_action, summary_counts
from titan_deploy.core.backendhold import PinAtRisk
from titan_deploy.core.findings import Finding, Report, error
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.valuechecks import Where, content_findings
from titan_deploy.core.versions import file_name
from titan_deploy.errors import ConfigError
from titan_deploy.project import Project

COLUMNS = ["secret", "location", "action", "version"]
RISK_FIX = "titan-deploy up (moves the consumers), or raise the key's max_versions"
Opener = Callable[[BackendConfig, Path], SecretBackend]


def backend_config(project: Project) -> BackendConfig:
    """The manifest's `backend:`; ConfigError (exit 2) when it names none."""
    config = project.manifest.backend
    if config is None:
        raise ConfigError(
            f"{project.manifest_option}: no `backend:` (a secrets manager: openbao or "
            'aws-secretsmanager); see README "Secrets managers"'
        )
    return config


def connect(project: Project, opener: Opener | None = None) -> SecretBackend:
    """The manifest's backend, logged in (`opener`: io/backends.open_backend by default, whose
    writes never lose a version a consumer is pinned to: io/backendpins.py `held`)."""
    config = backend_config(project)
    if opener is None:
        from titan_deploy.io import backendpins
        from titan_deploy.io.backends import open_backend

        return open_backend(
            config, project.project_dir, lambda secret: backendpins.held(project, secret)
        )
    return opener(config, project.project_dir)


def current_file(project: Project, spec: SecretSpec) -> Path:
    """The file holding `spec`'s current value: the version its consumers use (the rotation
    journal's assignments), else the base file."""
    from titan_deploy.core.secretage import current_version

    assignments: dict = {}
    if project.state_dir.is_dir():
        from titan_deploy.io import journal as journal_io

        assignments = dict(journal_io.load(project).assignments)
    version = current_version(assignments, spec.name)
    return project.secrets_dir / file_name(spec.file_name, version)


def where(project: Project, shown: str) -> Where:
    """How value findings name their source (`shown`: the backend, or the secrets dir)."""
    manifest = project.manifest
    return Where(
        shown=Path(shown),
        example_dir=project.example_dir,
        example_label=None,
        names=(*manifest.secrets, *manifest.services),
    )


def run_push(project: Project, *, dry_run: bool = False, opener: Opener | None = None) -> Report:
    """Push every manifest secret's current value to the backend (a new version where it
    differs). Exit 1 when a secret has no local value, a value check-secrets rejects, or a
    write that would destroy a version a consumer is pinned to (B006; it is not pushed); 2 no
    backend in the manifest or a bad credential file; 3 the backend
    unreachable or refusing."""
    from titan_deploy.io import fs

    backend = connect(project, opener)
    config = backend.config
    report = Report("push", columns=COLUMNS)
    versions: dict[str, int] = {}
    current: dict[str, bytes] = {}  # what each secret's entry holds after this push
    for spec in project.manifest.stored.values():
        path = current_file(project, spec)
        shown = Path(project.secrets_dir_rel) / path.name
        local: bytes | None
        try:
            local = fs.read_secret(path)
        except FileNotFoundError:
            local = None
        problems = [] if local is None else rejected(spec, local, shown, project)
        remote = backend.read(spec.name)
        action = "refused" if problems else push_action(local, remote)
        version = remote.version if remote else ""
        if action in ("create", "update") and not dry_run:
            try:
                version = backend.write(spec.name, local or b"", remote)
            except PinAtRisk as exc:  # nothing written: a consumer is pinned to what it destroys
                action, local = "refused", None
                problems.append(error("B006", exc.message, secret=spec.name, fix=RISK_FIX))
            else:
                if version.isdigit():
                    versions[spec.name] = int(version)
        if local is not None and action in ("create", "update", "unchanged"):
            current[spec.name] = local
        if action == "missing":
            report.findings.append(_missing(spec, shown))
        report.findings += problems
        row = {"secret": spec.name, "location": config.location(spec.name)}
        report.rows.append({**row, "action": action, "version": version})
    if project.manifest.configs:  # derived entries, rendered from the values pushed
        from titan_deploy.ops.agent_configs import sync_configs

        rows, found, written = sync_configs(project, backend, current, dry_run)
        report.rows += rows
        report.findings += found
        versions.update(written)
    counts = summary_counts(report.rows)
    report.data = {"backend": config.type, "dry_run": dry_run, "counts": counts}
    if versions:
        report.data["versions"] = versions
    report.summary = _summary(counts, dry_run)
    return report


def rejected(spec: SecretSpec, value: bytes, shown: Path, project: Project) -> list[Finding]:
    """check-secrets' errors about this value (a placeholder, the wrong kind, ...): never
    pushed."""
    found = content_findings(spec, value, shown, where(project, project.secrets_dir_rel))
    return [f for f in found if f.severity == "error"]  # S006 covers a value that is not UTF-8


def _missing(spec: SecretSpec, shown: Path) -> Finding:
    return error(
        "B001",
        f"{shown} does not exist: nothing to push",
        secret=spec.name,
        fix="titan-deploy init (or pull it from the backend: titan-deploy pull)",
    )


def _summary(counts: dict[str, int], dry_run: bool) -> str:
    verb = "would push" if dry_run else "pushed"
    written = counts.get("create", 0) + counts.get("update", 0)
    parts = [f"{verb} {written} (created {counts.get('create', 0)}, updated "]
    parts[0] += f"{counts.get('update', 0)}), {counts.get('unchanged', 0)} unchanged"
    for action in ("missing", "refused"):
        if counts.get(action):
            parts.append(f"{counts[action]} {action}")
    return "; ".join(parts)
