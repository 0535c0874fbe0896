"""Live mounts: how a consumer that reloads (`reload: {signal: ...}` or `{exec: [...]}`) sees a
new version without being recreated (README "Reload and proofs").

Compose mounts a secret as a bind mount of ONE file, and a bind mount keeps the inode it was
made with: a new version (a new file, or an atomic replace) never reaches a running container.
A bind mount of a DIRECTORY does: a file renamed into it is seen at once. So a reloading
consumer gets, instead of the version file, the directory `<secrets_dir>/.live/<service>/<secret>/`
mounted read-only at the directory of its target; that directory holds one file, named as the
target, which `ops/livefiles.sync_live` keeps equal to the version the consumer is assigned
(replaced atomically: a reader sees the old file or the new one, never a mix). The target must
therefore sit in a directory of its own (e.g. `/run/secrets/nats/auth.conf`), never directly in
/run/secrets, where the other secrets are mounted.

Pure: the mounts in, the same mounts with `live_dir` set out; ConfigError for a target that
cannot be mounted this way.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from typing import Any

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.manifest_model import SECRETS_MOUNT
from titan_deploy.errors import ConfigError

Mount = Any  # core/overlay.Mount (which imports this module)

LIVE_DIR = ".live"  # under the secrets dir: check-secrets claims it (core/checks IGNORED_NAMES)


def reloads(manifest: Manifest, secret: str, service: str) -> bool:
    """Whether `service` picks up a new version of `secret` without a restart."""
    consumer = manifest.secrets[secret].consumer(service)
    return consumer is not None and consumer.reload.how != "restart"


def live_dir(secrets_dir: str, service: str, secret: str) -> str:
    """The host directory (relative to the project dir) a live consumer mounts."""
    return f"./{secrets_dir}/{LIVE_DIR}/{service}/{secret}"


def container_dir(container_path: str) -> str:
    """The directory a live mount is mounted at: its target's."""
    return posixpath.dirname(container_path)


def live_mounts(
    manifest: Manifest, service: str, mounts: list[Mount], secrets_dir: str
) -> list[Mount]:
    """`mounts` of `service`, each of a reloading consumer with its `live_dir` set. ConfigError
    (exit 2) when such a target lies directly in /run/secrets or shares its directory with
    another mount of the service (a directory mount would hide the other files)."""
    out = []
    for mount in mounts:
        if not reloads(manifest, mount.secret, service):
            out.append(mount)
            continue
        directory = container_dir(mount.container_path)
        others = [
            m for m in mounts if m is not mount and container_dir(m.container_path) == directory
        ]
        if directory in ("/", SECRETS_MOUNT) or others:
            what = "directly in " + SECRETS_MOUNT if not others else f"beside {others[0].label}"
            spec = manifest.secrets[mount.secret]
            section = "configs" if spec.is_config else "secrets"
            how = consumer.reload.describe() if (consumer := spec.consumer(service)) else ""
            base = posixpath.basename(mount.container_path)
            raise ConfigError(
                f"{manifest.path.name}: {section}.{mount.secret}.consumers.{service}: reload "
                f"{how} needs the file in a directory of its own (a directory is mounted so "
                f"that a new version reaches the running container), but "
                f"{mount.container_path} is {what}: set `target: {SECRETS_MOUNT}/{service}/{base}`"
            )
        out.append(replace(mount, live_dir=live_dir(secrets_dir, service, mount.secret)))
    return out
