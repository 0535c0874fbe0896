"""`init`: create the secrets dir from the manifest, generating what can be generated.

Never overwrites an existing secret. Operator-supplied secrets (exchange keys) come from
`--from DIR` or are left as placeholder files for the operator to fill in; check-secrets flags
those until they hold real values.

Writes stay inside the project (issue 9.2): the secrets dir, its files and .gitignore are reached
from the project dir without following a symlink (io/fs). A `--from` file is copied only when it
is a regular file with a single link, read without following a symlink and bounded by Docker's
secret limit: a symlink planted there (e.g. to a root-only system file) is refused, never copied
into a group-readable secret.
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.checks import expected_dir_mode, expected_file_mode
from titan_deploy.core.findings import Finding, Report, error, warning
from titan_deploy.core.limits import LIMIT_TEXT, MAX_SECRET_BYTES
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.secretvalue import generate
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs, gitfiles
from titan_deploy.project import Project

PLACEHOLDER = b"__CHANGE_ME__"
ENV_IGNORES = (".env.*", "!.env.example")  # env files anywhere; the template stays committable


def run_init(
    project: Project, from_dir: Path | None = None, from_sops: Path | None = None
) -> Report:
    """Create the secrets dir and every missing secret file (copied `--from` a dir, imported
    `--from-sops` a SOPS file, generated, or a placeholder); never overwrites one."""
    manifest = project.manifest
    gid = manifest.secrets_gid
    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: not a directory")
    if from_dir is not None and from_sops is not None:
        raise ConfigError("--from and --from-sops: give one source")
    imported, refused, sops_findings = _from_sops(project, from_sops)
    secrets_rel = project.secrets_dir_rel  # init creates the store inside the project only
    secrets_dir = project.secrets_dir
    root = project.project_dir
    created_dir = fs.ensure_dir(secrets_dir, expected_dir_mode(gid), gid, root=root)
    report = Report("init", columns=["secret", "action"])
    mode = expected_file_mode(gid)
    report.findings += sops_findings
    for spec in manifest.stored.values():  # a config is rendered by render/up (ops/configs.py)
        if spec.name in imported:
            action, finding = _import(project, spec, imported[spec.name], mode, gid), None
        elif spec.name in refused:  # the operator's value exists: never generate another
            action, finding = "refused (sops)", None
        else:
            action, finding = _provision(project, spec, from_dir, mode, gid)
        report.rows.append({"secret": spec.name, "action": action})
        if finding is not None:
            report.findings.append(finding)
    # the state dir holds the journal and the history; .env.* are local settings, often secrets
    entries = [f"/{secrets_rel}/", "/.env", f"/{manifest.state_dir}/", *ENV_IGNORES]
    try:
        ignored = gitfiles.ensure_gitignored(project.project_dir, entries)
    except fs.UnsafePath as exc:
        ignored = []
        report.findings.append(
            warning("I003", str(exc), fix=f"add these lines to .gitignore: {' '.join(entries)}")
        )
    report.data = {
        "secrets_dir": str(secrets_dir),
        "created_dir": created_dir,
        "gitignore_added": ignored,
    }
    todo = sum(1 for row in report.rows if row["action"] == "to fill in")
    report.summary = f"{secrets_rel}/: {len(report.rows)} secrets, {todo} to fill in" + (
        " — then run `titan-deploy check-secrets`" if todo else ""
    )
    return report


def _from_sops(
    project: Project, from_sops: Path | None
) -> tuple[dict[str, bytes], set[str], list[Finding]]:
    """The values of a SOPS file by secret name (decrypted in memory, README "Importing from
    SOPS"), the manifest secrets the file holds but whose value is refused (I005: not a
    non-empty text, or a value check-secrets would reject, core/valuechecks.py), and a finding
    per skipped key (named, never shown). A refused secret is left missing, never generated."""
    if from_sops is None:
        return {}, set(), []
    from titan_deploy.io import sops

    doc = sops.decrypt(from_sops)
    values: dict[str, bytes] = {}
    refused: set[str] = set()
    findings: list[Finding] = []
    for key, value in doc.items():
        spec = project.manifest.stored.get(key)
        if spec is None:
            what = (
                "is a config, rendered from its inputs"
                if key in project.manifest.configs
                else "is no manifest secret"
            )
            findings.append(warning("I004", f"--from-sops {from_sops}: {key} {what}: skipped"))
            continue
        why = _sops_problem(project, spec, value)
        if why:
            refused.add(key)
            findings.append(
                error(
                    "I005",
                    f"--from-sops {from_sops}: {key} {why}: not imported (and not generated)",
                    secret=key,
                    fix="fix the value in the SOPS file, then run init --from-sops again",
                )
            )
        else:
            values[key] = value.encode("utf-8")
    return values, refused, findings


def _sops_problem(project: Project, spec: SecretSpec, value: object) -> str | None:
    """Why a SOPS value cannot be imported as `spec` (never quoting it), or None."""
    from titan_deploy.core.valuechecks import Where, content_findings

    if not isinstance(value, str) or not value:
        return "is not a non-empty text value"
    where = Where(
        shown=Path(project.secrets_dir_rel),
        example_dir=project.example_dir,
        example_label=None,
        names=(*project.manifest.secrets, *project.manifest.services),
    )
    found = content_findings(spec, value.encode("utf-8"), Path(f"the value of {spec.name}"), where)
    errors = [f"{f.code} {f.message}" for f in found if f.severity == "error"]
    if errors:
        return f"would be rejected by check-secrets ({'; '.join(errors)})"
    return None


def _import(project: Project, spec: SecretSpec, data: bytes, mode: int, gid: int | None) -> str:
    """Write an imported value (straight from memory, atomically) unless the file exists."""
    path = spec.path_in(project.secrets_dir)
    if path.exists() or path.is_symlink():
        return "kept (exists)"
    if spec.file is not None:
        top = project.secrets_root or project.secrets_dir
        fs.ensure_dirs(path.parent, expected_dir_mode(gid), gid, root=top)
    written = fs.write_new(path, data, mode, gid, root=project.project_dir)
    return "imported (sops)" if written else "kept (exists)"


def _example_hint(project: Project) -> str:
    """Where the operator finds what to write: the configured example dir's README, if any."""
    readme = project.example_dir / "README.md"
    if not readme.is_file():
        return "write the value the manifest's description asks for"
    try:
        return f"see {readme.relative_to(project.project_dir)}"
    except ValueError:
        return f"see {readme}"


def _provision(
    project: Project, spec: SecretSpec, from_dir: Path | None, mode: int, gid: int | None
) -> tuple[str, Finding | None]:
    path = spec.path_in(project.secrets_dir)
    shown = f"{project.secrets_dir_rel}/{spec.file_name}"
    root = project.project_dir
    if path.exists() or path.is_symlink():
        return "kept (exists)", None
    if spec.file is not None:  # a subdir of the secrets dir, created with the dir's own mode
        top = project.secrets_root or project.secrets_dir
        fs.ensure_dirs(path.parent, expected_dir_mode(gid), gid, root=top)
    if from_dir is not None:
        source = spec.path_in(from_dir)
        try:
            data = fs.read_bounded(
                source, MAX_SECRET_BYTES, follow_symlinks=False, single_link=True
            )
        except FileNotFoundError:
            pass
        except fs.TooLarge:
            return "refused", _refused(spec, source, f"is over {LIMIT_TEXT}")
        except fs.UnsafeFile as exc:  # a symlink, a hard link, a FIFO, a device, ...
            return "refused", _refused(spec, source, exc.reason)
        except OSError as exc:
            return "refused", _refused(spec, source, f"cannot be read: {exc.strerror}")
        else:
            return ("copied" if fs.write_new(path, data, mode, gid, root=root) else "kept"), None
    if spec.generate:
        fs.write_new(path, generate(spec), mode, gid, root=root)
        return "generated", None
    fs.write_new(path, PLACEHOLDER, mode, gid, root=root)
    return "to fill in", warning(
        "I001",
        f"{shown} holds a placeholder: write the value",
        secret=spec.name,
        fix=_example_hint(project),
    )


def _refused(spec: SecretSpec, source: Path, reason: str) -> Finding:
    return error(
        "I002",
        f"--from {source} {reason}: not copied (the tool copies only a regular file with one "
        "link, never through a symlink)",
        secret=spec.name,
        fix=f"put a plain copy of the value at {source}, then run init again",
    )
