"""Lint rules that compare the merged compose config with the manifest and the overlay plan:
consumers that do not exist (L003), unconsumed secrets (L004), secrets compose declares but the
manifest does not know (L005), consumers that do not mount their secret (L006), secret files
outside the secrets dir (L007), a managed secret read from another file than the manifest's
(L014); and the small readers of a service body both lint modules use.
Pure; `core/lint.py` runs these after the per-service rules.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from titan_deploy.core.dotenv import SECRETS_DIR
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import OverlayPlan
from titan_deploy.core.versions import file_name, parse_source


def environment(body: dict[str, Any]) -> dict[str, Any]:
    env = body.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return dict(pairs)
    return dict(env)


# --- where each env var comes from: env_file:, environment:, the interpolation .env ----------


def missing_consumers(manifest: Manifest, services: dict[str, Any]) -> Iterable[Finding]:
    for service in manifest.services:
        if service not in services:
            yield error(
                "L003",
                f"manifest consumer {service} is not a service of the merged compose config",
                service=service,
                fix="fix the service name in the manifest, or add the service",
            )


def mounts(plan: OverlayPlan, services: dict[str, Any]) -> Iterable[Finding]:
    for svc in plan.services:
        body = services.get(svc.service)
        if body is None:
            continue
        env = environment(body)
        mounted = {secret_target(item): secret_source(item) for item in body.get("secrets") or []}
        for mount in svc.mounts:
            if mount.live_dir is not None and live_mounted(mount, body):
                continue  # a reloading consumer's directory (core/livemount.py)
            if mounted.get(mount.target) != mount.source:
                yield error(
                    "L006",
                    f"does not mount {mount.source} at {mount.container_path}",
                    service=svc.service,
                    secret=mount.secret,
                    fix="titan-deploy render, and deploy with the overlay",
                )
            else:
                for name in mount.envs:
                    if env.get(name) != mount.container_path:
                        yield error(
                            "L006",
                            f"{name} does not point at {mount.container_path}",
                            service=svc.service,
                            secret=mount.secret,
                            fix="titan-deploy render",
                        )


def live_mounted(mount: Any, body: dict[str, Any]) -> bool:
    """Whether the service bind-mounts the mount's live directory at its target's directory."""
    want = posixpath.dirname(mount.container_path)
    tail = mount.live_dir.removeprefix("./")
    return any(
        isinstance(v, dict) and v.get("target") == want and str(v.get("source")).endswith(tail)
        for v in body.get("volumes") or []
    )


def secret_source(item: Any) -> str:
    return item if isinstance(item, str) else str(item.get("source"))


def secret_target(item: Any) -> str:
    if isinstance(item, str):
        return item
    target = str(item.get("target") or item.get("source"))
    name = target.removeprefix(SECRETS_DIR)
    return name if target.startswith(SECRETS_DIR) and "/" not in name else target


def declared_secrets(
    config: dict[str, Any], manifest: Manifest, plan: OverlayPlan, secrets_dir: str
) -> Iterable[Finding]:
    root = PurePosixPath(secrets_dir).parts
    # a file under the secrets dir: `<name>`, a version, or a manifest `file:` (db/password.txt)
    expected = {source: _rel_file(manifest, plan, source) for source, _ in plan.files}
    for source, body in sorted((config.get("secrets") or {}).items()):
        if source not in plan.sources and source not in manifest.secrets:
            yield error(
                "L005",
                f"compose declares secret {source}, which the manifest does not know",
                secret=source,
                fix="add it to secrets.manifest.yml (and render), or remove it",
            )
            continue
        path = (body or {}).get("file")
        parts = PurePosixPath(path).parts if path else ()
        if path and not _inside(parts, root, expected.get(source, ())):
            yield error(
                "L007",
                f"secret {source} is read from outside the secrets dir",
                secret=source,
                fix="titan-deploy render",
            )
        elif source in expected and parts[len(parts) - len(expected[source]) :] != expected[source]:
            shown = "/".join(expected[source])
            yield error(
                "L014",
                f"secret {source} is not read from the manifest's file {shown} in "
                "the secrets dir (a base compose file's `file:`, `environment:` or `external:` "
                "wins over the overlay)",
                secret=source,
                fix="titan-deploy render, and deploy with the overlay last",
            )


def _rel_file(manifest: Manifest, plan: OverlayPlan, source: str) -> tuple[str, ...]:
    """The parts of a compose secret's file relative to the secrets dir, as the plan names it
    (`<name>`, `<name>.vN`, a `file:` such as db/password.txt)."""
    hit = plan.sources.get(source) or parse_source(source, manifest.secrets) or (source, None)
    spec = manifest.secrets.get(hit[0])
    return PurePosixPath(file_name(spec.file_name if spec else hit[0], hit[1])).parts


def _inside(parts: tuple[str, ...], root: tuple[str, ...], rel: tuple[str, ...]) -> bool:
    """Whether a path (its parts) is a file directly in the secrets dir (`root`: the dir as
    configured, matched by its trailing parts as compose resolves it), or the manifest's own
    file for it there (`rel`: a `file:` in a subdir, db/password.txt)."""
    parent = parts[:-1]
    return parent[len(parent) - len(root) :] == root or (
        bool(rel) and parts[len(parts) - len(root) - len(rel) :] == root + rel
    )


def unconsumed(manifest: Manifest, plan: OverlayPlan, services: dict[str, Any]) -> Iterable:
    mounted = {
        plan.sources[secret_source(item)][0]
        for body in services.values()
        for item in body.get("secrets") or []
        if secret_source(item) in plan.sources
    } | {
        m.secret
        for svc in plan.services
        if svc.service in services
        for m in svc.mounts
        if m.live_dir
    }
    for name, spec in manifest.secrets.items():
        # an input of a config is read through the config's file (README "Config files")
        readers = (name, *manifest.configs_using([name]))
        if not any(manifest.secrets[r].consumers and r in mounted for r in readers):
            yield warning(
                "L004",
                f"{'config' if spec.is_config else 'secret'} {name} is consumed by no service",
                secret=name,
                fix="add a consumer in the manifest, or remove the secret",
            )


def mounted_targets(body: dict[str, Any]) -> list[str]:
    """Container paths of the service's secrets and volumes (bind, volume, tmpfs)."""
    out = []
    for item in body.get("secrets") or []:
        target = secret_source(item) if isinstance(item, str) else str(item.get("target") or "")
        target = target or secret_source(item)
        out.append(target if target.startswith("/") else f"{SECRETS_DIR}{target}")
    for item in body.get("volumes") or []:
        if isinstance(item, dict) and item.get("target"):
            out.append(str(item["target"]))
        elif isinstance(item, str) and ":" in item:
            out.append(item.split(":")[1])
    out += [str(t).split(":")[0] for t in as_list(body.get("tmpfs"))]
    return out


def as_list(value: Any) -> list:
    return [value] if isinstance(value, str) else list(value or [])


# --- L009: a *_FILE name the image does not read -----------------------------------------------
