"""`rotate nats`: new NATS credentials with zero refused connections (README "NATS
credentials"; the plan: core/rotation/procedures/nats.py).

New user and password (version files) -> the server's config rendered with the old and the new
user, the server reloaded onto it (`nats-server --signal reload`: never restarted), proved ->
each client recreated on the new credential, one at a time, healthy, verified and proved -> the
config with the new user only, the server reloaded again. Any failure takes every client back
while the server still accepts both, then the server back to its old config.
"""

from __future__ import annotations

from titan_deploy.core.findings import Report
from titan_deploy.core.rotation import Journal, Plan, find_config, plan_nats
from titan_deploy.errors import UsageError
from titan_deploy.ops.rotate.command import Command, run
from titan_deploy.ops.rotate.runner import Outcome
from titan_deploy.ops.rotate.session import Progress, existing_versions
from titan_deploy.ops.rotate.settings import RotateSettings
from titan_deploy.project import Project


def run_nats(
    project: Project,
    settings: RotateSettings = RotateSettings(),
    progress: Progress = lambda _: None,
) -> Report:
    """Rotate the inputs of the manifest's one live-reloaded config (or settings.secret, a
    config name). UsageError (exit 2) when none or several fit, or on Swarm (refuse_swarm)."""
    refuse_swarm(project)
    config = find_config(project.manifest, settings.secret)

    def plan(journal: Journal) -> Plan:
        names = (*config.inputs, config.name)
        history = {
            n: (existing_versions(project, n), journal.last_version.get(n, 0)) for n in names
        }
        return plan_nats(project.manifest, config.name, journal.assignments, history)

    def summary(report: Report, outcome: Outcome) -> str:
        creds = " and ".join(config.inputs)
        if outcome.status != "completed":
            return f"{creds} rotation failed and was rolled back (old credential restored): " + (
                str(outcome.reason)
            )
        return (
            f"{creds} rotated: {config.name} accepted old and new while every client moved onto "
            "the new credential, then only the new one; its server was reloaded, never restarted"
        )

    return run(project, Command("rotate nats", summary, plan=plan), settings, progress)


def refuse_swarm(project: Project) -> None:
    """UsageError (exit 2) on the Swarm path (`--swarm`, `deploy: {engine: swarm}`), before
    anything is read or written: a Swarm secret is an immutable object, so a new version of
    the server's config is a new object and a service update, which RESTARTS nats-server (every
    client disconnected at once) instead of reloading it; the overlap cannot be kept there."""
    if project.swarm:
        raise UsageError(
            "`rotate nats` is not supported with --swarm (deploy.engine: swarm): Swarm replaces "
            "a secret by restarting its service, so nats-server would be restarted, not "
            'reloaded; nothing was changed (README "NATS credentials")'
        )
