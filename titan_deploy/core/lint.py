"""Lint of the merged compose config (prod + overlay), read with interpolation OFF (DESIGN §5).

Input is the dict `docker compose config --no-interpolate --format json` prints, the manifest
and the overlay plan; output is findings. Messages name services and variables, never values:
with interpolation off a value is at worst `${VAR}`, and we still do not echo it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import OverlayPlan

SECRETISH_KEY = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|ACCESS_?KEY)",
)
VAR_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
HIGH_ENTROPY = re.compile(r"^(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})$")


def file_base(key: str) -> str | None:
    """`X` for an env var `X_FILE` (or Grafana's `X__FILE`), else None."""
    if key.endswith("__FILE"):
        return key[: -len("__FILE")]
    if key.endswith("_FILE"):
        return key[: -len("_FILE")]
    return None


def lint_config(
    config: dict[str, Any],
    manifest: Manifest,
    plan: OverlayPlan,
    secrets_dir: str,
) -> list[Finding]:
    services: dict[str, Any] = config.get("services") or {}
    findings: list[Finding] = []
    for name, body in sorted(services.items()):
        env = _environment(body)
        findings += _secret_values_in_env(name, env)
        findings += _both_set(name, env)
    findings += _missing_consumers(manifest, services)
    findings += _mounts(plan, services)
    findings += _declared_secrets(config, manifest, plan, secrets_dir)
    findings += _unconsumed(manifest, plan, services)
    return findings


def _environment(body: dict[str, Any]) -> dict[str, Any]:
    env = body.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return dict(pairs)
    return dict(env)


def _secret_values_in_env(service: str, env: dict[str, Any]) -> Iterable[Finding]:
    for key, value in sorted(env.items()):
        if file_base(key) is not None:
            continue
        text = "" if value is None else str(value)
        refs = [ref for ref in VAR_REF.findall(text) if SECRETISH_KEY.search(ref.upper())]
        if refs:
            yield error(
                "L001",
                f"environment {key} interpolates ${{{refs[0]}}}: a secret in plain environment",
                service=service,
                fix=f"mount it as a secret and set {key}_FILE instead",
            )
        elif SECRETISH_KEY.search(key) and value is None:
            yield error(
                "L001",
                f"environment {key} is passed through from the host environment",
                service=service,
                fix=f"mount it as a secret and set {key}_FILE instead",
            )
        elif SECRETISH_KEY.search(key) and text:
            yield error(
                "L001",
                f"environment {key} holds a secret-looking value in plain environment",
                service=service,
                fix=f"mount it as a secret and set {key}_FILE instead",
            )
        elif HIGH_ENTROPY.match(text) and "/" not in text[:1]:
            yield warning(
                "L001",
                f"environment {key} holds a long random-looking value; is it a secret?",
                service=service,
            )


def _both_set(service: str, env: dict[str, Any]) -> Iterable[Finding]:
    for key in sorted(env):
        base = file_base(key)
        if base and base in env:
            yield error(
                "L002",
                f"both {base} and {key} are set: the service may ignore the file "
                "(postgres refuses to start)",
                service=service,
                fix=f"remove {base} from the service's environment",
            )


def _missing_consumers(manifest: Manifest, services: dict[str, Any]) -> Iterable[Finding]:
    for service in manifest.services:
        if service not in services:
            yield error(
                "L003",
                f"manifest consumer {service} is not a service of the merged compose config",
                service=service,
                fix="fix the service name in the manifest, or add the service",
            )


def _mounts(plan: OverlayPlan, services: dict[str, Any]) -> Iterable[Finding]:
    for svc in plan.services:
        body = services.get(svc.service)
        if body is None:
            continue
        env = _environment(body)
        mounted = {_target(item): _source(item) for item in body.get("secrets") or []}
        for mount in svc.mounts:
            if mounted.get(mount.target) != mount.source:
                yield error(
                    "L006",
                    f"does not mount {mount.source} at {mount.container_path}",
                    service=svc.service,
                    secret=mount.secret,
                    fix="titan-deploy render, and deploy with the overlay",
                )
            elif env.get(mount.env) != mount.container_path:
                yield error(
                    "L006",
                    f"{mount.env} does not point at {mount.container_path}",
                    service=svc.service,
                    secret=mount.secret,
                    fix="titan-deploy render",
                )


def _source(item: Any) -> str:
    return item if isinstance(item, str) else str(item.get("source"))


def _target(item: Any) -> str:
    if isinstance(item, str):
        return item
    target = str(item.get("target") or item.get("source"))
    return PurePosixPath(target).name if target.startswith("/run/secrets/") else target


def _declared_secrets(
    config: dict[str, Any], manifest: Manifest, plan: OverlayPlan, secrets_dir: str
) -> Iterable[Finding]:
    root = PurePosixPath(secrets_dir)
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
        parent = PurePosixPath(path).parent.parts if path else ()
        if path and parent[len(parent) - len(root.parts) :] != root.parts:
            yield error(
                "L007",
                f"secret {source} is read from outside the secrets dir",
                secret=source,
                fix="titan-deploy render",
            )


def _unconsumed(manifest: Manifest, plan: OverlayPlan, services: dict[str, Any]) -> Iterable:
    mounted = {
        plan.sources[_source(item)][0]
        for body in services.values()
        for item in body.get("secrets") or []
        if _source(item) in plan.sources
    }
    for name, spec in manifest.secrets.items():
        if not spec.consumers or name not in mounted:
            yield warning(
                "L004",
                f"secret {name} is consumed by no service",
                secret=name,
                fix="add a consumer in the manifest, or remove the secret",
            )
