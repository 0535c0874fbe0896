"""`lint`: lint the merged compose config (compose files + overlay) with interpolation off.

Besides the config, lint reads (names, never values out) every service's `env_file:` and the
interpolation env files compose uses for this project — `<project dir>/.env`, or the files
COMPOSE_ENV_FILES names, exactly as compose picks them — and the secret values on disk, to
compare in memory. Each env file's text is scanned into facts (core/dotenv.py) and dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from titan_deploy.core.dotenv import EnvFileFacts, scan_env_text
from titan_deploy.core.findings import Finding, Report
from titan_deploy.core.leaks import searched
from titan_deploy.core.lint import LintEnv, lint_config
from titan_deploy.core.lint_base import base_file_findings
from titan_deploy.core.yamlpos import Located
from titan_deploy.errors import ConfigError
from titan_deploy.io import compose, fs
from titan_deploy.io.composerun import ComposeRejected
from titan_deploy.ops.check import counted, waived
from titan_deploy.ops.render import base_files as render_base_files
from titan_deploy.ops.render import current_plan
from titan_deploy.ops.stack import secret_values
from titan_deploy.project import Project


def run_lint(project: Project, compose_for: compose.ComposeFactory) -> Report:
    """Lint the project's merged compose config and env files; `compose_for` makes the compose
    runner (ops/stack.Backends.compose). Raises ConfigError (exit 2) when a compose file is
    missing or compose rejects the files, ComposeTimeout (exit 3) when compose does not answer;
    findings make the report fail."""
    files = project.all_compose_files()
    for file in files:
        try:  # compose must not be handed a FIFO, a device or a huge file (issue 9.4)
            fs.require_regular(project.path(file))
        except FileNotFoundError:
            hint = " (run `titan-deploy render`)" if file == project.manifest.overlay else ""
            raise ConfigError(f"{file}: file not found{hint}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: {exc}: refused") from None
    runner = compose_for(project.project_dir, files, project.project_name)
    try:
        config = runner.config()
        # what only the interpolated model shows (a port, a duration from `.env`): compose's
        # own `config --quiet`, as it would deploy the files
        runner.validate()
    except ComposeRejected as exc:
        # compose rejects the files themselves: a finding (L016, the CLI scrubs compose's
        # words; a base file's entry compose cannot merge is named); a timeout or an
        # unreachable engine stays a runtime failure (exit 3)
        return rejected(files, exc, _cause(project))
    plan = current_plan(project)
    env = lint_env(project, config, base_files(project))
    # compose prints absolute file paths: compare them with the absolute secrets dir
    findings = lint_config(config, project.manifest, plan, str(project.secrets_dir), env)
    findings = waived(project, findings, "L")
    report = Report("lint", findings=findings)
    report.data = {"files": files, "services": len(config.get("services") or {})}
    verdict = "compose config clean" if report.ok else "compose config has problems"
    report.summary = f"{verdict}: {counted(report)}"
    return report


def rejected(files: list[str], exc: ComposeRejected, cause: str = "") -> Report:
    """lint's report when Compose rejects the merged files: one L016 error with its message
    (and `cause`: a base file entry that explains it, or "")."""
    finding = Finding(
        "error",
        "L016",
        f"compose rejects {', '.join(files)}: {exc.message}{cause}",
        fix="fix what compose names (`titan-deploy -v lint` shows its whole stderr)",
    )
    report = Report("lint", findings=[finding])
    report.data = {"files": files, "services": 0}
    report.summary = "compose rejects the merged config: 1 error(s), 0 warning(s)"
    return report


def base_files(project: Project) -> tuple[Located, ...]:
    """The base compose files (`-f`, without the overlay, `include:` followed) as written, with
    their lines. Raises ConfigError (exit 2) for one that cannot be read or parsed."""
    try:
        return tuple(doc.located for doc in render_base_files(project))
    except OSError as exc:
        raise ConfigError(f"cannot read a compose file: {exc.strerror or exc}") from None


def _cause(project: Project) -> str:
    """`; L014 <file>:<line>: <problem>; fix: <fix>` when a base file declares a managed secret
    that Compose cannot merge with the overlay's `file:` (e.g. `environment:`), else ""."""
    try:
        base = base_files(project)
    except ConfigError:
        return ""
    found = base_file_findings(base, {}, project.manifest, lambda _: None)
    first = next((f for f in found if f.code == "L014"), None)
    return f"; L014 {first.where}: {first.message}; fix: {first.fix}" if first else ""


def lint_env(project: Project, config: dict[str, Any], base: tuple[Located, ...] = ()) -> LintEnv:
    """Facts about every env file the config uses, plus the secret values (memory only) and
    the base compose files as written (`base`)."""
    manifest = project.manifest  # configuration (sensitive: false) may rightly appear
    values = searched(secret_values(project), manifest.secrets, manifest.insensitive)
    env_files: dict[str, EnvFileFacts] = {}
    for body in (config.get("services") or {}).values():
        for entry in _entries((body or {}).get("env_file")):
            path = str(entry["path"])
            if path not in env_files:
                raw = entry.get("format") == "raw"
                required = entry.get("required", True) is not False
                env_files[path] = _scan(project, Path(path), values, raw, required)
    dotenv = tuple(
        _scan(project, path, values, False, False)
        for path in project.interpolation_env_files()  # --env-file, else compose's default
        if path.exists()
    )
    return LintEnv(env_files=env_files, dotenv=dotenv, values=values, base=base)


def _entries(raw: Any) -> list[dict[str, Any]]:
    items = [raw] if isinstance(raw, (str, dict)) else list(raw or [])
    out = []
    for item in items:
        entry = {"path": item} if isinstance(item, str) else item
        if isinstance(entry, dict) and entry.get("path"):
            out.append(entry)
    return out


def _scan(
    project: Project, path: Path, values: dict[str, bytes], raw: bool, required: bool
) -> EnvFileFacts:
    display = _display(project, path)
    try:  # bounded; a FIFO or a device is refused before it is opened (issue 9.4)
        text = fs.read_config(path).decode("utf-8", errors="replace")
    except OSError:
        return EnvFileFacts(str(path), display, readable=False, required=required)
    facts = scan_env_text(text, str(path), display, values, raw=raw)
    return EnvFileFacts(facts.path, display, facts.vars, required=required)


def _display(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.project_dir))
    except ValueError:
        return str(path)
