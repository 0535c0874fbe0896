"""The overlap version of a NATS server's config (`rotate nats`, README "NATS credentials"):
what the server runs now (its version before the rotation) merged with a fresh render from the
new inputs (core/rotation/procedures/nats.merge_users), so it accepts the old AND the new
credential while the clients move. Read from and written to the secrets dir only.

Test hook, hidden from --help (like runner.py's crash hooks): `TITAN_DEPLOY_NATS_NO_OVERLAP=1`
renders the new credential only, the control run in which the server refuses every client
still on the old one, which the auth-failure guard must catch (tests/integration/
test_rotation_nats.py)."""

from __future__ import annotations

import os

from titan_deploy.core.rotation import Journal
from titan_deploy.core.rotation.procedures.nats import merge_users
from titan_deploy.core.rotation.steps import current
from titan_deploy.core.versions import file_name
from titan_deploy.io import fs
from titan_deploy.ops import configs
from titan_deploy.ops.rotate.runner import StepFailed
from titan_deploy.project import Project

NO_OVERLAP = "TITAN_DEPLOY_NATS_NO_OVERLAP"


def overlap_render(project: Project, config: str, journal: Journal) -> bytes:
    """The overlap content of `config` (module doc). StepFailed (the rotation rolls back) when
    the old file cannot be read or the two cannot be merged; messages hold no value."""
    active = journal.active
    spec = project.manifest.secrets[config]
    server = spec.consumers[0].service
    initial = active.initial if active is not None else {}
    version = current(initial, config, server).version
    path = project.secrets_dir / file_name(spec.file_name, version)
    try:
        old = fs.read_secret(path)
    except OSError as exc:
        raise StepFailed(f"cannot read {path.name}: {exc.strerror or exc}") from None
    new = configs.rendered_version(project, config, journal)
    if os.environ.get(NO_OVERLAP) == "1":
        return new
    try:
        return merge_users(old, new)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StepFailed(f"config {config}: {exc}") from None
