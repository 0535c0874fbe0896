"""The secrets overlay as data, then as YAML (ARCHITECTURE.md "Layers", invariant 2).

`plan_overlay` decides, for each consumer service, which secret files it mounts, at which target
under /run/secrets, and which env var names them. Rotation state only changes that decision (a
consumer pointed at `<name>.v<N>`, a secondary HMAC key, a key id); the template just writes the
plan down. Every name in the plan passed the manifest's validation, and the template quotes every
scalar as a JSON string (valid YAML), so nothing can inject structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path

from titan_deploy.core.conventions import SECRETISH
from titan_deploy.core.livemount import container_dir, live_mounts
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.manifest_model import SECRETS_MOUNT
from titan_deploy.core.versions import file_name, parse_source, secondary_target, source_name
from titan_deploy.errors import ConfigError

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
    target: str  # file name under /run/secrets, or an absolute path (a consumer's `target:`)
    env: str | None  # env var that names the container path (None: a target-only consumer)
    also: tuple[str, ...] = ()  # more env vars naming the same file (a consumer's `env:` list)
    # a consumer that reloads (signal, exec): its file's DIRECTORY is bind-mounted instead
    # (core/livemount.py), this host dir relative to the project dir; None: the file itself
    live_dir: str | None = None

    @property
    def envs(self) -> tuple[str, ...]:
        """Every env var the overlay points at this mount: `env` first."""
        return () if self.env is None else (self.env, *self.also)

    @property
    def container_path(self) -> str:
        """The absolute path the container reads the file at."""
        return self.target if self.target.startswith("/") else f"{SECRETS_MOUNT}/{self.target}"

    @property
    def label(self) -> str:
        """How a report names this mount: its file name under /run/secrets, else the secret."""
        return self.secret if self.target.startswith("/") else self.target


@dataclass(frozen=True)
class ServicePlan:
    service: str
    mounts: tuple[Mount, ...]
    env: tuple[tuple[str, str], ...] = ()
    reset_env: tuple[str, ...] = ()  # plain names the base sets (mapping form): `X: !reset null`
    # the base's environment minus the plain names, when a base file writes it as a list (Compose
    # cannot reset one list entry): rendered under `environment: !override`
    keep_env: tuple[tuple[str, str | None], ...] | None = None
    # the base's service `secrets:` entries that are not managed, when some are: `!override`
    keep_secrets: tuple[str, ...] | None = None

    @property
    def env_entries(self) -> int:
        """How many `environment:` entries the overlay writes for this service (kept, file
        vars, plain values, `!reset`s): none and no `!override` means no `environment:` key at
        all (a target-only consumer; Compose rejects an empty one as not a mapping)."""
        files = sum(len(m.envs) for m in self.mounts)
        return len(self.keep_env or ()) + files + len(self.env) + len(self.reset_env)


@dataclass(frozen=True)
class BaseService:
    """What the base compose files set for one service (names and non-secret settings only)."""

    env: tuple[tuple[str, str | None], ...] = ()  # merged over the files, in order
    env_list_form: bool = False  # some base file writes `environment:` as a list
    secrets: tuple[object, ...] = ()  # service `secrets:` entries as written (str or mapping)


@dataclass(frozen=True)
class BaseCompose:
    """The base compose files as the overlay needs them (core.overlay.base_compose builds it)."""

    services: Mapping[str, BaseService] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # top-level secret names


@dataclass(frozen=True)
class OverlayPlan:
    services: tuple[ServicePlan, ...]
    files: tuple[tuple[str, str], ...]  # compose secret name -> path relative to project dir
    group_add: int | None = None
    manifest_name: str = "secrets.manifest.yml"
    sources: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    # top-level secrets a base file declares too (`file:` elsewhere, `external:`,
    # `environment:`): rendered `!override`, the WHOLE entry replaced by the manifest's file
    replaced: tuple[str, ...] = ()
    insensitive: frozenset[str] = frozenset()  # secrets with `sensitive: false`: no leak search

    def service(self, name: str) -> ServicePlan | None:
        return next((s for s in self.services if s.service == name), None)


State = Mapping[str, Mapping[str, Assignment]]  # secret -> service -> assignment


def plan_overlay(
    manifest: Manifest,
    state: State | None = None,
    secrets_dir: str | None = None,
    base: BaseCompose | None = None,
) -> OverlayPlan:
    """Decide every consumer's mounts from the manifest and the rotation state (pure).

    `secrets_dir`: the secrets dir relative to the project dir (`--secrets-dir`), default the
    manifest's `secrets_dir`; the overlay's file paths point into it. `base`: what the base
    compose files set; the plan then takes out a consumer's plain `X` where it now gets `X_FILE`,
    the base's service `secrets:` entries for a managed secret, and points every base top-level
    secret of a managed name at the manifest's file (issue 10 item 2)."""
    state = state or {}
    directory = Path(secrets_dir if secrets_dir is not None else manifest.secrets_dir)
    services = []
    names = list(manifest.secrets)
    used: dict[str, tuple[str, int | None]] = {}
    for service in manifest.services:
        mounts: list[Mount] = []
        env: list[tuple[str, str]] = []
        for spec in manifest.secrets_of(service):
            assignment = state.get(spec.name, {}).get(service, Assignment())
            mounts.extend(_mounts(spec, service, assignment))
            if spec.key_id_env and assignment.key_id:
                env.append((spec.key_id_env, assignment.key_id))
        mounts = live_mounts(manifest, service, mounts, directory.as_posix())
        for mount in mounts:
            used[mount.source] = (mount.secret, mount.version)
        plan = ServicePlan(service, tuple(mounts), tuple(env))
        if base is not None and service in base.services:
            plan = _take_out(plan, base.services[service], names)
        services.append(plan)
    declared = dict(used)  # plus every base top-level secret of a managed name: the manifest's file
    replaced: list[str] = []
    for name in base.secrets if base is not None else ():
        hit = parse_source(name, names)
        if hit is None:
            continue
        replaced.append(name)  # whatever the base says (external, environment): replaced whole
        if name not in declared:
            declared[name] = hit
    on_disk = {name: spec.file_name for name, spec in manifest.secrets.items()}
    files = tuple(
        (source, f"./{directory.as_posix()}/{_file_of(declared[source], on_disk)}")
        for source in sorted(declared)
    )
    return OverlayPlan(
        services=tuple(services),
        files=files,
        group_add=manifest.secrets_gid,
        manifest_name=manifest.path.name,
        sources=used,
        replaced=tuple(sorted(replaced)),
        insensitive=manifest.insensitive,
    )


def _file_of(source: tuple[str, int | None], on_disk: Mapping[str, str]) -> str:
    """The file (relative to the secrets dir) of a version of a secret: its `file:` or name."""
    secret, version = source
    return file_name(on_disk.get(secret, secret), version)


def base_compose(docs: list[object]) -> BaseCompose:
    """What the base compose documents (parsed, in `-f` order) set, merged as Compose merges
    `environment:` (by name, later files win) and concatenating service `secrets:` entries."""
    env: dict[str, dict[str, str | None]] = {}
    list_form: set[str] = set()
    secrets: dict[str, list[object]] = {}
    top: list[str] = []
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        services = doc.get("services")
        for name, svc in services.items() if isinstance(services, Mapping) else ():
            if not isinstance(svc, Mapping):
                continue
            pairs, is_list = _env_pairs(svc.get("environment"))
            env.setdefault(str(name), {}).update(pairs)
            if is_list:
                list_form.add(str(name))
            entries = svc.get("secrets")
            if isinstance(entries, list):
                secrets.setdefault(str(name), []).extend(entries)
        declared = doc.get("secrets")
        if isinstance(declared, Mapping):
            top.extend(str(k) for k in declared if str(k) not in top)
    return BaseCompose(
        services={
            name: BaseService(
                tuple(env.get(name, {}).items()), name in list_form, tuple(secrets.get(name, ()))
            )
            for name in set(env) | set(secrets)
        },
        secrets=tuple(top),
    )


def _env_pairs(value: object) -> tuple[dict[str, str | None], bool]:
    """(name -> value as Compose reads it, written as a list?) of one `environment:`."""
    if isinstance(value, list):
        out: dict[str, str | None] = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            out[key] = val if sep else None
        return out, True
    if isinstance(value, Mapping):
        return {str(k): _env_value(v) for k, v in value.items()}, False
    return {}, False


def _env_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plain_name(env: str) -> str | None:
    """The plain variable a `*_FILE` name replaces (`X_FILE` and `X__FILE` -> `X`), else None."""
    for suffix in ("__FILE", "_FILE"):
        if env.endswith(suffix) and len(env) > len(suffix):
            return env[: -len(suffix)]
    return None


def _take_out(plan: ServicePlan, base: BaseService, names: Collection[str]) -> ServicePlan:
    """`plan` plus what removes the base's plain values and managed secret entries."""
    plain = {p for m in plan.mounts for e in m.envs if (p := plain_name(e)) is not None}
    ours = {e for m in plan.mounts for e in m.envs} | {k for k, _ in plan.env}
    set_plain = tuple(k for k, _ in base.env if k in plain)
    reset_env: tuple[str, ...] = ()
    keep_env = None
    if set_plain and base.env_list_form:
        keep_env = tuple((k, v) for k, v in base.env if k not in plain and k not in ours)
        _refuse_secret_copies(plan.service, keep_env)
    else:
        reset_env = set_plain
    targets = {m.target for m in plan.mounts} | {m.container_path for m in plan.mounts}
    keep = [e for e in base.secrets if not _managed_entry(e, names, targets)]
    keep_secrets = None
    if len(keep) != len(base.secrets):
        keep_secrets = tuple(json.dumps(e, sort_keys=True) for e in keep)
    return replace(plan, reset_env=reset_env, keep_env=keep_env, keep_secrets=keep_secrets)


_DSN_WITH_PASSWORD = re.compile(r"://[^/@\s:]*:[^@\s/]+@")


def _refuse_secret_copies(service: str, keep: tuple[tuple[str, str | None], ...]) -> None:
    """ConfigError (exit 2) when `environment: !override` would copy a value that may be a
    secret (a secret-looking name, a DSN with a password) from the base file into the overlay.
    Names only in the message."""
    for key, value in keep:
        if value and (SECRETISH.search(key.upper()) or _DSN_WITH_PASSWORD.search(value)):
            raise ConfigError(
                f"service {service}: environment: the base file lists it as `- K=V` entries, "
                f"which Compose cannot take one entry out of, so the overlay would repeat every "
                f"other entry, and {key} looks like a secret: add {key} to the manifest too, or "
                "write that service's `environment:` as a mapping (`K: V`)"
            )


def _managed_entry(entry: object, names: Collection[str], targets: set[str]) -> bool:
    """A base `secrets:` entry for a manifest secret, or mounted where the overlay mounts."""
    if isinstance(entry, Mapping):
        source, target = entry.get("source"), entry.get("target")
    else:
        source, target = entry, None
    source = str(source)
    target = str(target) if target is not None else source
    return parse_source(source, names) is not None or target in targets


def _mounts(spec: SecretSpec, service: str, assignment: Assignment) -> list[Mount]:
    consumer = spec.consumer(service)
    assert consumer is not None
    primary = Mount(
        source=source_name(spec.name, assignment.version),
        secret=spec.name,
        version=assignment.version,
        target=_target(consumer.container_path(spec.name)),
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


def _target(path: str) -> str:
    """A mount's target as the overlay writes it: a file name directly under /run/secrets as
    the bare name (Compose's default directory), any other path absolute."""
    name = path.removeprefix(SECRETS_MOUNT + "/")
    return name if "/" not in name else path


def render_overlay(plan: OverlayPlan) -> str:
    """The overlay YAML text for `plan` (deterministic: the committed file is compared to it)."""
    return _template().render(
        plan=plan, q=_quote, mount_root=SECRETS_MOUNT, live_target=container_dir
    )


def _quote(value: object) -> str:
    return json.dumps(str(value))


def _template():  # -> jinja2.Template
    return load_template(TEMPLATE)


@cache
def load_template(name: str):  # -> jinja2.Template; jinja2 is imported only when rendering
    """The packaged template `name` (templates/), parsed once: StrictUndefined, blocks
    trimmed, the final newline kept."""
    import jinja2

    text = resources.files("titan_deploy.templates").joinpath(name).read_text("utf-8")
    env = jinja2.Environment(
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.from_string(text)
