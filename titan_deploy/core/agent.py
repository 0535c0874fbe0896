"""The OpenBao Agent path (README "Secrets managers"): the agent's configuration and the compose
file that runs it as a sidecar.

The agent logs in with AppRole from two files (`auto_auth`), and renders one template per
(consumer, secret) into a tmpfs volume of that consumer (`secrets-<service>`), which the consumer
mounts read-only as a DIRECTORY at /run/secrets: the agent replaces files on a change, and a
single-file bind mount would keep the old inode. Each consumer sees only its own secrets, starts
only once the agent is healthy (every file rendered), and its `*_FILE` variables name the files.

Pure: texts from the manifest; every name in them passed the manifest's validation (names,
paths, the address), and strings are JSON-quoted (valid HCL and YAML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from titan_deploy.core.backend import BackendConfig
from titan_deploy.core.manifest_model import Manifest
from titan_deploy.errors import ConfigError

SECRETS_MOUNT = "/run/secrets"
OUT = "/out"  # where the consumers' volumes are mounted in the agent
CREDENTIALS = "/run/bao-agent"  # where the AppRole files are mounted in the agent
CONFIG_PATH = "/etc/bao-agent/agent.hcl"
DEFAULT_IMAGE = "titan-deploy/bao-agent:local"
DEFAULT_SERVICE = "secrets-agent"


@dataclass(frozen=True)
class Rendered:
    """One file the agent renders: `secret`'s value for `service`, at `name` in its volume."""

    service: str
    secret: str
    name: str

    @property
    def agent_path(self) -> str:
        return f"{OUT}/{self.service}/{self.name}"


def rendered_files(manifest: Manifest) -> list[Rendered]:
    """Every (consumer, secret) file, in manifest order. ConfigError (exit 2) for a consumer
    whose `target:` is not directly under /run/secrets (the agent renders into one directory
    per consumer)."""
    if manifest.configs:
        raise ConfigError(
            f"configs: {', '.join(manifest.configs)}: the agent path does not render config "
            'files yet (README "Secrets managers"); deploy them with `titan-deploy up`'
        )
    out = []
    for spec in manifest.secrets.values():
        for consumer in spec.consumers:
            path = consumer.target or f"{SECRETS_MOUNT}/{spec.name}"
            directory, _, name = path.rpartition("/")
            if directory != SECRETS_MOUNT:
                raise ConfigError(
                    f"secrets.{spec.name}.consumers.{consumer.service}.target: {path} is not "
                    f"under {SECRETS_MOUNT}/: the agent renders into {SECRETS_MOUNT} only"
                )
            out.append(Rendered(consumer.service, spec.name, name))
    return out


def agent_hcl(config: BackendConfig, manifest: Manifest, address: str) -> str:
    """The agent's configuration: the server at `address` (as the agent's container reaches it),
    AppRole auto-auth from the files mounted at CREDENTIALS, one template per rendered file."""
    if config.auth is None or config.auth.method != "approle":
        raise ConfigError(
            "backend.auth: the agent logs in with AppRole: give role_id_file and secret_id_file"
        )
    q = json.dumps
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
        '"30s"\n}',
    ]
    for item in rendered_files(manifest):
        kv_path = f"{config.mount}/data/{config.path_of(item.secret)}"
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


def agent_compose(
    manifest: Manifest, config_file: str, role_id_file: str, secret_id_file: str, image: str
) -> str:
    """The compose file of the agent path: the sidecar (its config and AppRole files bind-mounted
    read-only, one tmpfs volume per consumer), and each consumer with its volume at
    /run/secrets (read-only), its `*_FILE` variables, and `depends_on` the healthy agent.
    Paths are as compose reads them (relative to the project dir, or absolute)."""
    q = json.dumps
    files = rendered_files(manifest)
    services = list(dict.fromkeys(item.service for item in files))
    health = " && ".join(f"test -s {item.agent_path}" for item in files) or "true"
    out = [
        "# Rendered by titan-deploy from the manifest's backend:. Do not edit: run "
        "`titan-deploy render-agent`.",
        "# The agent path: use INSTEAD of the overlay: docker compose -f <compose files> -f "
        "<this file> up",
        "services:",
        f"  {DEFAULT_SERVICE}:",
        f"    image: {q(image)}",
        f'    command: ["agent", {q("-config=" + CONFIG_PATH)}]',
        "    volumes:",
        f"      - {q(config_file + ':' + CONFIG_PATH + ':ro')}",
        f"      - {q(role_id_file + ':' + CREDENTIALS + '/role-id:ro')}",
        f"      - {q(secret_id_file + ':' + CREDENTIALS + '/secret-id:ro')}",
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
        envs = [
            (env, f"{SECRETS_MOUNT}/{item.name}")
            for item in files
            if item.service == service
            for consumer in manifest.secrets[item.secret].consumers
            if consumer.service == service
            for env in consumer.envs
        ]
        if envs:
            out.append("    environment:")
            out += [f"      {q(env)}: {q(path)}" for env, path in envs]
    out.append("volumes:")
    for service in services:
        out += [
            f"  {q('secrets-' + service)}:",
            '    driver_opts: {type: tmpfs, device: tmpfs, o: "size=1m,mode=0755"}',
        ]
    return "\n".join(out) + "\n"
