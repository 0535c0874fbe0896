"""What the containers of the agent path must hold (README "Secrets managers"): for each file of
the overlay plan, the digest of the KV version it is pinned to (core/agent.py `Pins`, else the
entry's latest), read from the backend into memory, hashed, and handed to `verify` as the
reference its container reads are compared with (ops/verify.py `verify_report(expected=...)`).
The values are kept in memory for verify's leak checks and never written anywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from titan_deploy.core.agent import Pins, kv_version
from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.verify import HostFile
from titan_deploy.core.versions import file_name
from titan_deploy.errors import RuntimeFailure


@dataclass
class Expected:
    """`host`: compose secret source -> the reference (sha256 of the backend's value; no
    identity, no times: only a content proof can pass); `values`: store entry (`<name>`,
    `<name>.v<N>`) -> value, for the leak checks. `repr()` shows no value."""

    host: dict[str, HostFile]
    values: dict[str, bytes] = field(repr=False, default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # source -> the KV version read


def expected_from_backend(
    backend: SecretBackend, plan: OverlayPlan, pins: Pins, files: dict[str, str]
) -> Expected:
    """The reference of every mount of `plan` (`files`: secret -> its file name in a secrets
    dir, for the leak checks' keys). RuntimeFailure (exit 3) naming the entry when a pinned
    version is gone (destroyed) or the entry is missing; the backend's own failures as its
    read raises them."""
    out = Expected(host={})
    for svc in plan.services:
        for mount in svc.mounts:
            if mount.source in out.host:
                continue
            pinned = kv_version(pins, mount.secret, mount.version)
            stored = backend.read_version(mount.secret, str(pinned) if pinned else "")
            if stored is None:
                where = backend.config.location(mount.secret)
                which = f"version {pinned}" if pinned else "a current version"
                raise RuntimeFailure(
                    f"{where}: has no {which}: nothing to verify {svc.service} against "
                    "(push it, or run `titan-deploy up` to pin what the backend holds)"
                )
            out.host[mount.source] = HostFile(
                sha256=hashlib.sha256(stored.value).hexdigest(), mtime=0.0
            )
            entry = file_name(files.get(mount.secret, mount.secret), mount.version)
            out.values[entry] = stored.value.strip()
            out.versions[mount.source] = stored.version
    return out
