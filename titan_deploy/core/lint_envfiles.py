"""Lint over env files (README "lint", L012/L013): what lint knows besides the merged config
(`LintEnv`), a service's `env_file:` entries, and the findings for env files and the interpolation
`.env` that hold a secret's value. Values are only compared, never shown."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from titan_deploy.core.dotenv import SECRETS_DIR, EnvFileFacts
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.lint_text import interpolated, walk_strings
from titan_deploy.core.yamlpos import Located


@dataclass(frozen=True)
class LintEnv:
    """What lint knows besides the merged config. `env_files`: facts per env file, keyed by the
    path compose prints in `env_file:` (absolute); `dotenv`: the interpolation env files (the
    project's `.env`, or COMPOSE_ENV_FILES), later ones winning; `values`: secret values (name
    or `name.vN` -> bytes), kept in memory and only compared; `base`: the base compose files
    as written, with their lines (core/lint_base.py)."""

    env_files: Mapping[str, EnvFileFacts] = field(default_factory=dict)
    dotenv: tuple[EnvFileFacts, ...] = ()
    values: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    base: tuple[Located, ...] = ()


def env_file_entries(body: Any) -> list[tuple[str, bool]]:
    """(path, required) per `env_file:` entry of a service `body`: a string, a list of strings or
    of mappings with `path` and `required`. Anything else (an unmerged, hostile file) is skipped."""
    raw = body.get("env_file") if isinstance(body, dict) else None
    items = [raw] if isinstance(raw, (str, dict)) else raw if isinstance(raw, list) else []
    out = []
    for item in items:
        path = item.get("path") if isinstance(item, dict) else item
        if isinstance(path, str) and path:
            required = not isinstance(item, dict) or item.get("required", True) is not False
            out.append((path, required))
    return out


# --- L012 / L013: env files -------------------------------------------------------------------


def env_file_findings(service: str, body: dict[str, Any], env: LintEnv) -> Iterable[Finding]:
    """L013 for a required env file of `service` that cannot be read; L012 for each of its lines
    that holds a secret value (named, never shown)."""
    for path, required in env_file_entries(body):
        facts = env.env_files.get(path)
        if facts is None:
            continue
        if not facts.readable:
            if required:
                yield error(
                    "L013",
                    f"env_file {facts.display} cannot be read: its variables are unchecked "
                    "and compose will refuse to start the service",
                    service=service,
                    fix="create the file (or mark it `required: false`), readable by the deployer",
                )
            continue
        for var in facts.vars:
            if var.holds:
                yield error(
                    "L012",
                    f"env_file {facts.display} sets {var.name} (line {var.line}) to the value of "
                    f"secret {var.holds}: it lands in the container's environment",
                    service=service,
                    secret=var.holds,
                    fix=f"remove {var.name} from {facts.display}; mount the secret and set "
                    f"{var.name}_FILE={SECRETS_DIR}{var.holds}",
                )


def dotenv_values(config: dict[str, Any], env: LintEnv) -> Iterable[Finding]:
    """The interpolation .env holding a secret value: an error once the config uses it."""
    used = {ref for _, text in walk_strings(config) for ref in interpolated(text)}
    for facts in env.dotenv:
        for var in facts.vars:
            if not var.holds:
                continue
            referenced = var.name in used
            make = error if referenced else warning
            tail = ": the compose config interpolates it" if referenced else ""
            yield make(
                "L012",
                f"{facts.display} sets {var.name} (line {var.line}) to the value of secret "
                f"{var.holds}{tail}",
                secret=var.holds,
                fix=f"delete {var.name} from {facts.display}: secret values live only in the "
                "secrets dir",
            )
