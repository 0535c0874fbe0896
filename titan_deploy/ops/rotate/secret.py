"""`rotate secret NAME`: restart rotation of one secret outside an exchange group (README "4. Any
other secret"): Grafana's admin password, the Gemini key, every secret `adopt` found.

The new value is the operator's (read by the CLI from a file, stdin or a hidden prompt, never
argv; checked here as `rotate exchange` checks its keys: ops/rotate/material.py) or, with
`--generate`, a random one where the manifest allows it. It is written as a new version file;
each consumer in turn is recreated on it, healthy, verified (its container holds the new file, by
hash) and, where the manifest has `verify_log`, proved in its logs. Any failure puts every
consumer back on the old file (verified) and exits 1. Refused (exit 2, naming the right command)
for hmac, rolling and exchange-group secrets (core.rotation.restart_spec).
"""

from __future__ import annotations

from titan_deploy.core.findings import Report, warning
from titan_deploy.core.rotation import Journal, Plan, plan_restart, restart_spec
from titan_deploy.errors import UsageError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.configs import config_history
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.material import check_new_value
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import Progress, existing_versions
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def check_rotatable(project: Project, name: str, generate: bool = False) -> None:
    """Refuse (UsageError, exit 2) before any value is read: `rotate secret` does not rotate
    `name`, or cannot generate it."""
    restart_spec(project.manifest, name, "generate" if generate else "input")


def validate_value(project: Project, name: str, values: list[bytes]) -> bytes:
    """The one new value of `name` among what the CLI read (a file, stdin lines, a prompt),
    trimmed and checked (material.check_new_value). UsageError (exit 2) otherwise; messages
    name the secret, never a value."""
    if len(values) != 1:
        spec = project.manifest.secrets[name]
        hint = " (a multi-line value: give it with --from-file)" if spec.is_multiline else ""
        raise UsageError(f"{name} needs one value, got {len(values)} lines{hint}")
    value = values[0].strip()
    check_new_value(project, journal_io.load(project), name, value)
    return value


def run_secret(
    project: Project,
    name: str,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
    *,
    value: bytes | None = None,
    generate: bool = False,
) -> Report:
    """Rotate `name` to `value` (validate_value's) or, with `generate`, to a random value.
    UsageError (exit 2) as check_rotatable, or with neither outside a dry run."""
    check_rotatable(project, name, generate)
    if not settings.dry_run and not generate and not value:
        raise UsageError(f"no new value for {name}: give --from-file, stdin, or --generate")
    spec = project.manifest.secrets[name]

    def plan(journal: Journal) -> Plan:
        return plan_restart(
            project.manifest,
            name,
            journal.assignments,
            existing_versions(project, name),
            journal.last_version.get(name, 0),
            source="generate" if generate else "input",
            configs=config_history(project, journal, [name]),
        )

    def summary(report: Report, outcome: Outcome) -> str:
        if outcome.status != "completed":
            return f"{name} was NOT rotated ({outcome.reason}); " + (
                "no consumer is deployed, so none was changed: deploy with `titan-deploy up`, "
                "then rotate"
                if outcome.nothing_deployed
                else "every consumer is back on the old value, verified"
            )
        if not spec.generate:
            report.findings.append(
                warning(
                    "R021",
                    f"if the old {name} was issued by a provider (an API key, a token), revoke it "
                    "there now: no consumer uses it any more",
                    secret=name,
                )
            )
        proved = " and logged its verify_log proof" if spec.verify_log else ""
        version = (report.data.get("versions") or {}).get(name)
        inactive = _inactive(project, [c.service for c in spec.consumers])
        running = ", ".join(c.service for c in spec.consumers if c.service not in inactive)
        later = f"; {', '.join(inactive)} (profile not active) will start on it" if inactive else ""
        return (
            f"{name} rotated to v{version}: {running or 'no consumer'} recreated on it, healthy "
            f"and verified{proved}{later}"
        )

    inputs = {name: value} if value else {}
    command = Command("rotate secret", summary, plan=plan, inputs=inputs)
    return run(project, command, settings, progress)


def _inactive(project: Project, services: list[str]) -> list[str]:
    """Which of `services` are in a profile this run does not enable (Compose is asked only
    when one of them is in a profile at all)."""
    from titan_deploy.ops import stack
    from titan_deploy.ops.verify import select_active

    inactive = select_active(project, stack.real(project).compose)[1]
    return [s for s in services if s in inactive]
