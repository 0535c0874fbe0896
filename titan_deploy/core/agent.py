"""The OpenBao Agent path (README "Secrets managers"): the agent's configuration and the compose
file that runs it as a sidecar.

The agent logs in with AppRole from two files (`auto_auth`), and renders one template per
file of the overlay plan (core/overlay.py: each consumer's mounts, a rotation's versions and an
HMAC listener's secondary key included) into a tmpfs volume of that consumer
(`secrets-<service>`), which the consumer mounts read-only as a DIRECTORY at /run/secrets: the
agent replaces files on a change, and a single-file bind mount would keep the old inode. Each
consumer sees only its own secrets, starts only once the agent is healthy (every file rendered),
and its `*_FILE` variables (and a rotation's key id) are the overlay plan's.

Which KV version each file holds is pinned (`Pins`: a secret's base and each rotation version ->
its KV version number, kept by io/backendpins.py): a central write reaches a consumer only when
the journal repoints it, in the procedure's order, exactly as a version file does on the local
path. A file with no pin follows the entry's latest version.

Pure: texts from the manifest; every name in them passed the manifest's validation (names,
paths, the address), and strings are JSON-quoted (valid HCL and YAML).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from titan_deploy.core.backend import DEFAULT_RENDER_INTERVAL, BackendConfig
from titan_deploy.core.manifest_model import Manifest
from titan_deploy.core.overlay import OverlayPlan, ServicePlan, plan_overlay
from titan_deploy.errors import ConfigError

SECRETS_MOUNT = "/run/secrets"
OUT = "/out"  # where the consumers' volumes are mounted in the agent
CREDENTIALS = "/run/bao-agent"  # where the AppRole files are mounted in the agent
CONFIG_PATH = "/etc/bao-agent/agent.hcl"
DEFAULT_IMAGE = "titan-deploy/bao-agent:local"
DEFAULT_SERVICE = "secrets-agent"
BASE = "base"
Pins = Mapping[str, Mapping[str, int | str]]
"""secret -> {"base" | str(rotation version): the backend's version: KV's version number, or a
Secrets Manager VersionId}"""


@dataclass(frozen=True)
class Rendered:
    """One file the agent renders: `version` of `secret` (None: the base value) for `service`,
    at `name` in its volume (the consumer reads /run/secrets/<name>)."""

    service: str
    secret: str
    name: str
    version: int | None = None

    @property
    def agent_path(self) -> str:
        return f"{OUT}/{self.service}/{self.name}"

    @property
    def container_path(self) -> str:
        return f"{SECRETS_MOUNT}/{self.name}"


def pin_key(version: int | None) -> str:
    """The key of a pin: `base`, or the rotation version's number."""
    return BASE if version is None else str(version)


def kv_version(pins: Pins, secret: str, version: int | None) -> int | str | None:
    """The backend version `version` of `secret` is pinned to; None: the latest."""
    return pins.get(secret, {}).get(pin_key(version))


def pin_value(version: str) -> int | str | None:
    """A backend's version as a pin: KV v2's version number as an int, Secrets Manager's
    VersionId as its text; None for no version (nothing to pin)."""
    if not version:
        return None
    return int(version) if version.isdigit() else version


def rendered_files(manifest: Manifest, plan: OverlayPlan | None = None) -> list[Rendered]:
    """Every file of `plan` (default: the manifest's plan with no rotation), in plan order.
    A config's file is its derived entry (ops/agent_configs.py), rendered like a secret's.
    A target in a subdirectory of /run/secrets (`/run/secrets/nats/auth.conf`) is rendered
    there in the consumer's volume (the agent creates the directory). ConfigError (exit 2) for
    a consumer whose `target:` is not under /run/secrets (the agent renders into one volume per
    consumer, mounted there), or one file's path a directory of another's."""
    plan = plan if plan is not None else plan_overlay(manifest)
    out = []
    for svc in plan.services:
        for mount in svc.mounts:
            path = mount.container_path
            if not path.startswith(SECRETS_MOUNT + "/"):
                raise ConfigError(
                    f"secrets.{mount.secret}.consumers.{svc.service}.target: {path} is not "
                    f"under {SECRETS_MOUNT}/: the agent renders into {SECRETS_MOUNT} only"
                )
            out.append(
                Rendered(svc.service, mount.secret, path[len(SECRETS_MOUNT) + 1 :], mount.version)
            )
    _refuse_nested(out)
    return out


def _refuse_nested(files: list[Rendered]) -> None:
    """ConfigError when one consumer's file would be a directory of another of its files (the
    agent could render only one of them)."""
    names = {(item.service, item.name): item for item in files}
    for item in files:
        parts = item.name.split("/")
        for depth in range(1, len(parts)):
            other = names.get((item.service, "/".join(parts[:depth])))
            if other is not None:
                raise ConfigError(
                    f"secrets.{item.secret}.consumers.{item.service}.target: "
                    f"{item.container_path} lies inside {other.container_path} (the file of "
                    f"{other.secret}): give one of them another target"
                )


def agent_hcl(
    config: BackendConfig,
    files: list[Rendered],
    address: str,
    pins: Pins | None = None,
) -> str:
    """The agent's configuration: the server at `address` (as the agent's container reaches it),
    AppRole auto-auth from the files mounted at CREDENTIALS, one template per rendered file,
    each reading its pinned KV version (`pins`), and every entry re-read each
    `agent_render_interval` seconds."""
    if config.auth is None or config.auth.method != "approle":
        raise ConfigError(
            "backend.auth: the agent logs in with AppRole: give role_id_file and secret_id_file"
        )
    q = json.dumps
    interval = config.agent_render_interval or DEFAULT_RENDER_INTERVAL
    lines = [
        "# Rendered by titan-deploy from the manifest's backend:. Do not edit: run "
        "`titan-deploy render-agent`.",
        f"vault {{\n  address = {q(address)}\n}}",
        "auto_auth {",
        f'  method "approle" {{\n    mount_path = {q("auth/" + config.auth.approle_mount)}',
        "    config = {",
        f"      role_id_file_path = {q(CREDENTIALS + '/role-id')}",
        f"      secret_id_file_path = {q(CREDENTIALS + '/secret-id')}",
        "      remove_secret_id_file_after_reading = false",
        "    }\n  }\n}",
        "template_config {\n  exit_on_retry_failure = true\n  static_secret_render_interval = "
        f'"{interval}s"\n}}',
    ]
    for item in files:
        kv_path = f"{config.mount}/data/{config.path_of(item.secret)}"
        pinned = kv_version(pins or {}, item.secret, item.version)
        if pinned is not None:
            kv_path += f"?version={pinned}"
        contents = "{{ with secret " + q(kv_path) + " }}{{ .Data.data.value }}{{ end }}"
        lines += [
            "template {",
            f"  destination = {q(item.agent_path)}",
            f"  contents = {q(contents)}",
            '  perms = "0444"',
            "  error_on_missing_key = true",
            "}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Sidecar:
    """How the sidecar runs: compose's paths of its config and AppRole files (relative to the
    project dir, or absolute), its image and network mode."""

    config_file: str
    role_id_file: str
    secret_id_file: str
    image: str = DEFAULT_IMAGE
    network_mode: str | None = None

    def service_lines(self) -> list[str]:
        """The sidecar service's image, command, network mode and bind mounts (the consumers'
        volumes follow)."""
        q = json.dumps
        out = [f"    image: {q(self.image)}"]
        out.append(f'    command: ["agent", {q("-config=" + CONFIG_PATH)}]')
        if self.network_mode:
            out.append(f"    network_mode: {q(self.network_mode)}")
        return [
            *out,
            "    volumes:",
            f"      - {q(self.config_file + ':' + CONFIG_PATH + ':ro')}",
            f"      - {q(self.role_id_file + ':' + CREDENTIALS + '/role-id:ro')}",
            f"      - {q(self.secret_id_file + ':' + CREDENTIALS + '/secret-id:ro')}",
        ]


class SidecarSpec(Protocol):
    """What agent_compose needs of a sidecar (Sidecar; core/agent_aws.py AwsSidecar)."""

    def service_lines(self) -> list[str]: ...


def agent_compose(plan: OverlayPlan, files: list[Rendered], sidecar: SidecarSpec) -> str:
    """The compose file of the agent path: the sidecar (its config and AppRole files bind-mounted
    read-only, one tmpfs volume per consumer), and each consumer with its volume at
    /run/secrets (read-only), the plan's `*_FILE` variables and plain values (a key id), and
    `depends_on` the healthy agent."""
    q = json.dumps
    services = list(dict.fromkeys(item.service for item in files))
    health = " && ".join(f"test -s {item.agent_path}" for item in files) or "true"
    out = [
        "# Rendered by titan-deploy from the manifest's backend:. Do not edit: run "
        "`titan-deploy render-agent`.",
        "# The agent path: use INSTEAD of the overlay: docker compose -f <compose files> -f "
        "<this file> up",
        "services:",
        f"  {DEFAULT_SERVICE}:",
        *sidecar.service_lines(),
    ]
    out += [f"      - {q(f'secrets-{s}:{OUT}/{s}')}" for s in services]
    out += [
        "    healthcheck:",
        f'      test: ["CMD-SHELL", {q(health)}]',
        "      interval: 1s",
        "      retries: 120",
    ]
    for service in services:
        out += [
            f"  {q(service)}:",
            "    depends_on:",
            f"      {DEFAULT_SERVICE}: {{condition: service_healthy}}",
            "    volumes:",
            f"      - {q(f'secrets-{service}:{SECRETS_MOUNT}:ro')}",
        ]
        svc = plan.service(service)
        if svc is not None:
            out += _takes_out(svc)
    out.append("volumes:")
    for service in services:
        out += [
            f"  {q('secrets-' + service)}:",
            '    driver_opts: {type: tmpfs, device: tmpfs, o: "size=1m,mode=0755"}',
        ]
    return "\n".join(out) + "\n"


def _takes_out(svc: ServicePlan) -> list[str]:
    """A consumer's `secrets:` and `environment:` lines, as the overlay writes them: the base's
    managed secret entries replaced (`!override`: a file the base mounts at /run/secrets would
    hide the agent's volume), its plain values taken out (`X: !reset null`, or the list form's
    `!override` keeping every other variable), the `*_FILE` variables and plain values set."""
    q = json.dumps
    out: list[str] = []
    if svc.keep_secrets is not None:
        out.append("    secrets: !override" + ("" if svc.keep_secrets else " []"))
        out += [f"      - {entry}" for entry in svc.keep_secrets]
    envs = [(env, m.container_path) for m in svc.mounts for env in m.envs] + list(svc.env)
    kept = list(svc.keep_env or ())
    if svc.keep_env is None and not envs and not svc.reset_env:
        return out
    override = " !override" if svc.keep_env is not None else ""
    empty = "" if kept or envs or svc.reset_env else " {}"
    out.append(f"    environment:{override}{empty}")
    out += [f"      {q(k)}: {'null' if v is None else q(v)}" for k, v in kept]
    out += [f"      {q(env)}: {q(value)}" for env, value in envs]
    out += [f"      {q(key)}: !reset null" for key in svc.reset_env]
    return out
