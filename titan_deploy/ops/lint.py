"""`lint`: lint the merged compose config (compose files + overlay) with interpolation off."""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.core.lint import lint_config
from titan_deploy.errors import ComposeError, ConfigError
from titan_deploy.io import compose, fs
from titan_deploy.ops.render import current_plan
from titan_deploy.project import Project


def run_lint(project: Project) -> Report:
    files = project.all_compose_files()
    for file in files:
        try:  # compose must not be handed a FIFO, a device or a huge file (issue 9.4)
            fs.require_regular(project.path(file))
        except FileNotFoundError:
            hint = " (run `titan-deploy render`)" if file == project.manifest.overlay else ""
            raise ConfigError(f"{file}: file not found{hint}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: {exc}: refused") from None
    command = compose.command_for(project.project_dir, files, project.project_name)
    try:
        config = compose.merged_config(command)
    except ComposeError as exc:
        # compose rejects the files themselves: that is a configuration problem (exit 2)
        raise ConfigError(f"compose rejects {', '.join(files)}: {exc.message}") from None
    plan = current_plan(project)
    # compose prints absolute file paths: compare them with the absolute secrets dir
    findings = lint_config(config, project.manifest, plan, str(project.secrets_dir))
    report = Report("lint", findings=findings)
    report.data = {"files": files, "services": len(config.get("services") or {})}
    verdict = "compose config clean" if report.ok else "compose config has problems"
    report.summary = f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    return report
