"""The secrets overlay as data, then as YAML (ARCHITECTURE.md "Layers", invariant 2).

`plan_overlay` decides, for each consumer service, which secret files it mounts, at which target
under /run/secrets, and which env var names them. Rotation state only changes that decision (a
consumer pointed at `<name>.v<N>`, a secondary HMAC key, a key id); the template just writes the
plan down. Every name in the plan passed the manifest's validation, and the template quotes every
scalar as a JSON string (valid YAML), so nothing can inject structure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.versions import file_name, secondary_target, source_name

SECRETS_MOUNT = "/run/secrets"
TEMPLATE = "docker-compose.secrets.yml.j2"


@dataclass(frozen=True)
class Assignment:
    """Which versions of one secret a service uses. None means the base file `<name>`."""

    version: int | None = None
    secondary: int | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class Mount:
    source: str  # compose secret name: "<name>" or "<name>_v<N>"
    secret: str  # the manifest secret
    version: int | None
    target: str  # file name under /run/secrets
    env: str  # env var that names /run/secrets/<target>
    also: tuple[str, ...] = ()  # more env vars naming the same file (a consumer's `env:` list)

    @property
    def envs(self) -> tuple[str, ...]:
        """Every env var the overlay points at this mount: `env` first."""
        return (self.env, *self.also)

    @property
    def container_path(self) -> str:
        return f"{SECRETS_MOUNT}/{self.target}"


@dataclass(frozen=True)
class ServicePlan:
    service: str
    mounts: tuple[Mount, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OverlayPlan:
    services: tuple[ServicePlan, ...]
    files: tuple[tuple[str, str], ...]  # compose secret name -> path relative to project dir
    group_add: int | None = None
    manifest_name: str = "secrets.manifest.yml"
    sources: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def service(self, name: str) -> ServicePlan | None:
        return next((s for s in self.services if s.service == name), None)


State = Mapping[str, Mapping[str, Assignment]]  # secret -> service -> assignment


def plan_overlay(
    manifest: Manifest, state: State | None = None, secrets_dir: str | None = None
) -> OverlayPlan:
    """Decide every consumer's mounts from the manifest and the rotation state (pure).

    `secrets_dir`: the secrets dir relative to the project dir (`--secrets-dir`), default the
    manifest's `secrets_dir`; the overlay's file paths point into it."""
    state = state or {}
    directory = Path(secrets_dir if secrets_dir is not None else manifest.secrets_dir)
    services = []
    used: dict[str, tuple[str, int | None]] = {}
    for service in manifest.services:
        mounts: list[Mount] = []
        env: list[tuple[str, str]] = []
        for spec in manifest.secrets_of(service):
            assignment = state.get(spec.name, {}).get(service, Assignment())
            mounts.extend(_mounts(spec, service, assignment))
            if spec.key_id_env and assignment.key_id:
                env.append((spec.key_id_env, assignment.key_id))
        for mount in mounts:
            used[mount.source] = (mount.secret, mount.version)
        services.append(ServicePlan(service, tuple(mounts), tuple(env)))
    files = tuple(
        (source, f"./{directory.as_posix()}/{file_name(*used[source])}") for source in sorted(used)
    )
    return OverlayPlan(
        services=tuple(services),
        files=files,
        group_add=manifest.secrets_gid,
        manifest_name=manifest.path.name,
        sources=used,
    )


def _mounts(spec: SecretSpec, service: str, assignment: Assignment) -> list[Mount]:
    consumer = spec.consumer(service)
    assert consumer is not None
    primary = Mount(
        source=source_name(spec.name, assignment.version),
        secret=spec.name,
        version=assignment.version,
        target=spec.name,
        env=consumer.env,
        also=consumer.also,
    )
    out = [primary]
    if assignment.secondary is not None and spec.secondary_env and consumer.role == "listener":
        out.append(
            Mount(
                source=source_name(spec.name, assignment.secondary),
                secret=spec.name,
                version=assignment.secondary,
                target=secondary_target(spec.name),
                env=spec.secondary_env,
            )
        )
    return out


def render_overlay(plan: OverlayPlan) -> str:
    """The overlay YAML text for `plan` (deterministic: the committed file is compared to it)."""
    return _template().render(plan=plan, q=_quote, mount_root=SECRETS_MOUNT)


def _quote(value: object) -> str:
    return json.dumps(str(value))


@cache
def _template():  # -> jinja2.Template; jinja2 is imported only when rendering
    import jinja2

    text = resources.files("titan_deploy.templates").joinpath(TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.from_string(text)
