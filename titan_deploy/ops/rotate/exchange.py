"""`rotate exchange NAME`: restart rotation of an exchange key pair with proof (README "3. Exchange
keys").

The new key material comes from files, stdin or a hidden prompt (read by the CLI, never argv),
is validated against the manifest (kind, placeholder, not the value in use), and written as new
version files. Consumers are recreated one at a time; each must log the manifest's verify_log
line (e.g. `Exchange connected (binance)`) within --log-timeout of its restart. Otherwise every
consumer goes back to the old files and the command exits 1. On success: revoke the old key at
the exchange — this tool cannot.
"""

from __future__ import annotations

from titan_deploy.core.findings import Report, warning
from titan_deploy.core.rotation import Journal, Plan, plan_exchange
from titan_deploy.errors import UsageError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.configs import config_history
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.material import check_not_taken, check_value
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import Progress, existing_versions
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def group_secrets(project: Project, group: str) -> list[str]:
    groups = project.manifest.groups()
    if group not in groups:
        names = ", ".join(sorted(groups)) or "none"
        raise UsageError(f"no exchange group {group} in the manifest (groups: {names})")
    return groups[group]


def validate_material(project: Project, group: str, values: list[bytes]) -> dict[str, bytes]:
    """Map the values (in the group's manifest order) to secrets; exit 2 on a bad value.

    Refused, changing nothing: an empty, malformed or placeholder value, a multi-line one unless
    the secret is `kind: pem` or multi-line text (a PEM key, given with --from-file); a value
    already in use by the secret itself; two values of the group that are equal (a key pasted
    as its own secret); a value equal to any other secret's (any file in the secrets dir: base
    files and versions). Messages name secrets, never a value."""
    names = group_secrets(project, group)
    if len(values) != len(names):
        multiline = [n for n in names if project.manifest.secrets[n].is_multiline]
        hint = (
            f" ({', '.join(multiline)} is multi-line, e.g. a PEM key: give each value with "
            "--from-file)"
            if multiline
            else ""
        )
        raise UsageError(
            f"{group} needs {len(names)} values ({', '.join(names)}, in that order); "
            f"got {len(values)}{hint}"
        )
    journal = journal_io.load(project)
    out: dict[str, bytes] = {}
    for name, raw in zip(names, values, strict=True):
        value = raw.strip()
        check_value(project, name, value)
        same = next((other for other, v in out.items() if v == value), None)
        if same is not None:
            raise UsageError(
                f"the new {name} is the same value as the new {same}: a key and its secret "
                "differ (were both read from the same file or line?)"
            )
        check_not_taken(project, journal, name, value)
        out[name] = value
    return out


def run_exchange(
    project: Project,
    group: str,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
    *,
    material: dict[str, bytes] | None = None,
) -> Report:
    """Rotate the exchange `group`'s key pair to `material` (validate_material's values; not
    needed for a dry run). UsageError (exit 2) without material or for an unknown group."""
    names = group_secrets(project, group)
    if not settings.dry_run and not material:
        raise UsageError(f"no new key material for {group}")

    def plan(journal: Journal) -> Plan:
        return plan_exchange(
            project.manifest,
            group,
            journal.assignments,
            {
                **{name: existing_versions(project, name) for name in names},
                **{c: f for c, (f, _) in config_history(project, journal, names).items()},
            },
            journal.last_version,
        )

    def summary(report: Report, outcome: Outcome) -> str:
        report.data["group"] = group
        if outcome.status != "completed" and outcome.nothing_deployed:
            return (
                f"the {group} keys were NOT rotated ({outcome.reason}); no consumer is "
                "deployed, so none was changed: deploy with `titan-deploy up`, then rotate"
            )
        if outcome.status != "completed":
            return (
                f"the new {group} keys were NOT accepted ({outcome.reason}); every consumer is "
                f"back on the old keys. Check the new key's permissions/IP whitelist at {group}"
            )
        report.findings.append(
            warning(
                "R020",
                f"revoke the OLD {group} API key at {group} now (API management page): it still "
                "works there, and no consumer uses it any more",
            )
        )
        return (
            f"{group} keys rotated: every consumer logged the proof of connection with the new "
            f"key. Now revoke the old {group} key at the exchange"
        )

    command = Command("rotate exchange", summary, plan=plan, inputs=material or {})
    return run(project, command, settings, progress)
