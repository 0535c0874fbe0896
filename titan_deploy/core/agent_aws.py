"""The agent path for AWS Secrets Manager (README "Secrets managers"): the configuration of
titan-deploy's renderer sidecar (scripts/aws-agent/render.py) and how compose runs it.

AWS ships no program that renders Secrets Manager values to files (its "Secrets Manager Agent" is
an HTTP cache), so the sidecar is a small renderer of ours with the bao agent's contract
(core/agent.py): at start it reads `aws-agent.json` (per file: SecretId, the pinned VersionId,
its path in the consumers' volumes, its mode), writes every file atomically, then re-reads each
entry every `render_interval` seconds and keeps running. A file with no pin follows AWSCURRENT.
Credentials and region come from the standard AWS configuration: the region and endpoint in
the JSON file (not secret), the shared credentials/config files bind-mounted read-only and
named by AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE (paths, never values); with neither, the
SDK's chain (an instance role) applies.

Pure: texts from the manifest; every name in them passed the manifest's validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from titan_deploy.core.agent import Pins, Rendered, kv_version
from titan_deploy.core.backend import DEFAULT_RENDER_INTERVAL, BackendConfig

AWS_CONFIG_PATH = "/etc/titan-aws-agent/agent.json"
AWS_FILES = "/run/aws-agent"  # where the shared credentials/config files are mounted
AWS_DEFAULT_IMAGE = "titan-deploy/aws-agent:local"
HEADER = (
    "# Rendered by titan-deploy from the manifest's backend:. Do not edit: run "
    "`titan-deploy render-agent`."
)
"""The first line of aws-agent.json (the renderer skips `#` lines before the JSON)."""
FILE_MODE = "0444"


def aws_agent_json(config: BackendConfig, files: list[Rendered], pins: Pins | None = None) -> str:
    """The renderer's configuration: region, endpoint (the sidecar's `agent.endpoint_url`, else
    the backend's), interval in seconds, and per rendered file its SecretId, pinned VersionId
    ("" = AWSCURRENT), path in the agent's volumes and mode. Values never: names and ids."""
    entries = []
    for item in files:
        pinned = kv_version(pins or {}, item.secret, item.version)
        entries.append(
            {
                "secret_id": config.path_of(item.secret),
                "version_id": "" if pinned is None else str(pinned),
                "path": item.agent_path,
                "mode": FILE_MODE,
            }
        )
    body = {
        "region": config.region or "",
        "endpoint_url": config.agent_address or config.endpoint_url or "",
        "interval": config.agent_render_interval or DEFAULT_RENDER_INTERVAL,
        "files": entries,
    }
    return HEADER + "\n" + json.dumps(body, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class AwsSidecar:
    """How the renderer sidecar runs: compose's paths of its JSON config and of the AWS shared
    credentials/config files (relative `./x` or absolute; None: not mounted), its image and
    network mode."""

    config_file: str
    credentials_file: str | None = None
    aws_config_file: str | None = None
    image: str = AWS_DEFAULT_IMAGE
    network_mode: str | None = None

    def service_lines(self) -> list[str]:
        """The sidecar service's image, command, network mode, environment (file paths only)
        and bind mounts (core/agent.py agent_compose adds the consumers' volumes)."""
        q = json.dumps
        out = [f"    image: {q(self.image)}", f"    command: [{q(AWS_CONFIG_PATH)}]"]
        if self.network_mode:
            out.append(f"    network_mode: {q(self.network_mode)}")
        mounts = [(self.config_file, AWS_CONFIG_PATH)]
        env = []
        for source, name, var in (
            (self.credentials_file, "credentials", "AWS_SHARED_CREDENTIALS_FILE"),
            (self.aws_config_file, "config", "AWS_CONFIG_FILE"),
        ):
            if source:
                mounts.append((source, f"{AWS_FILES}/{name}"))
                env.append(f"      {var}: {q(f'{AWS_FILES}/{name}')}")
        if env:
            out += ["    environment:", *env]
        out.append("    volumes:")
        out += [f"      - {q(f'{source}:{target}:ro')}" for source, target in mounts]
        return out
