"""The manifest as values (README "The manifest"): a Manifest of SecretSpecs, each with its
Consumers, an optional ProvisionSpec, and the rotation AuthGuard. Built only by
core/manifest.py's parser, which validates everything first; these types hold no behaviour beyond
lookups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # waivers.py imports the validator, which imports this module
    from titan_deploy.core.backend import BackendConfig
    from titan_deploy.core.waivers import Waiver

from titan_deploy.core.manifest_deploy import DeploySpec
from titan_deploy.core.manifest_validate import SECRETS_MOUNT


@dataclass(frozen=True)
class Reload:
    """How a consumer picks up a new version (core/manifest_reload.py): `how` is "restart"
    (recreated on the new file: the default), "signal" (`signal` sent to its main process) or
    "exec" (`command` run inside its container)."""

    how: str = "restart"
    signal: str | None = None
    command: tuple[str, ...] = ()

    def describe(self) -> str:
        """As a plan or an error names it: `restart`, `signal SIGHUP`, `exec nats-server ...`."""
        if self.how == "signal":
            return f"signal {self.signal}"
        if self.how == "exec":
            return "exec " + " ".join(self.command)
        return "restart"


@dataclass(frozen=True)
class Proof:
    """What proves a consumer took a new version: a `log` line (RE2) since its (re)start and/or
    a `probe` command run inside its container that must exit 0."""

    log: str | None = None
    probe: tuple[str, ...] = ()


@dataclass(frozen=True)
class Consumer:
    """A service that reads a secret from the file its env var names, or at a fixed path.

    `env` is the primary env var (None: the service reads `target` and no env var names it);
    `also` are more env vars naming the same file, for a service that reads one secret under
    several names (`env: [TITAN_DB_PASSWORD_FILE, DB_PASSWORD_FILE]`). `target`: the absolute,
    normalised path the file is mounted at in the container (`target: /etc/app/server.cert`);
    None means `/run/secrets/<secret name>`. The manifest guarantees env or target.
    """

    service: str
    env: str | None
    role: str | None = None
    also: tuple[str, ...] = ()
    target: str | None = None
    reload: Reload = Reload()
    proof: Proof | None = None

    @property
    def envs(self) -> tuple[str, ...]:
        """Every env var that names this consumer's file: the primary first (none for a
        target-only consumer)."""
        return () if self.env is None else (self.env, *self.also)

    def container_path(self, secret: str) -> str:
        """Where this consumer's container reads `secret`'s file: its `target`, else
        `/run/secrets/<secret>`."""
        return self.target or f"{SECRETS_MOUNT}/{secret}"


@dataclass(frozen=True)
class ProvisionSpec:
    """Where a rolling secret's credential lives (rotate db provisions it there first)."""

    kind: str  # "postgres": ALTER ROLE in the service's running PostgreSQL
    service: str
    role: str | None = None  # default: the container's POSTGRES_USER (else "postgres")


@dataclass(frozen=True)
class AuthGuard:
    """The rotation guard (README "Rotation runbook"): a counter scraped inside these services
    during every rotation; an increase over `threshold` aborts and rolls back."""

    metric: str = "auth_failures_total"
    threshold: int = 0
    endpoints: tuple[tuple[str, str], ...] = ()  # (service, http URL inside its container)
    # more counters watched the same way, each at its own endpoints: (metric, endpoints), e.g.
    # the NATS clients' refused logins (README "NATS credentials")
    counters: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # a counter of traffic served, read at `endpoints`: the settle window after each verify
    # ends as soon as every container there shows core/authguard.SETTLE_COUNT more of it
    settle_on: str | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every counter watched: `metric` first, then those of `counters`."""
        return (self.metric, *(metric for metric, _ in self.counters))

    def watched(self) -> tuple[tuple[str, str, str], ...]:
        """Every (metric, service, URL) read at each guard snapshot, `metric`'s first."""
        main = tuple((self.metric, service, url) for service, url in self.endpoints)
        more = tuple((m, s, u) for m, endpoints in self.counters for s, u in endpoints)
        return main + more


@dataclass(frozen=True)
class SecretSpec:
    name: str
    kind: str
    consumers: tuple[Consumer, ...]
    description: str = ""
    min_length: int = 1
    max_length: int = 4096
    bytes: int | None = None
    pattern: str | None = None
    generate: bool = False
    rotation: str = "restart"
    verify_log: str | None = None
    group: str | None = None
    secondary_env: str | None = None
    key_id_env: str | None = None
    finish_after_hours: float = 24.0
    max_age_days: int | None = None  # older current version: check-secrets warns (S024)
    provision: ProvisionSpec | None = None
    multiline: bool = False  # text only: interior newlines allowed (pem: always)
    # a path relative to the secrets dir holding the value (`file: db/password.txt`); None: the
    # file `<name>`. Confined by the manifest (no absolute path, no `..`); see `file_name`
    file: str | None = None
    # false: configuration read through a `*_FILE` var (POSTGRES_USER_FILE): mounted and
    # verified, never searched for as a leak, not judged weak or a placeholder
    sensitive: bool = True
    # a command run inside each consumer after its restart (an exchange's lab-mode test order):
    # it must exit 0, else the rotation rolls back (core/manifest_reload.py)
    probe: tuple[str, ...] = ()
    # a config file (manifest `configs:`, README "Config files"): rendered from this template
    # (a path relative to the project dir) with the values of `inputs` (secret names); None for
    # a secret. A config is mounted, versioned, verified and repointed like a secret.
    template: str | None = None
    inputs: tuple[str, ...] = ()

    @property
    def is_config(self) -> bool:
        """Whether this entry is a config file rendered from a template (`configs:`)."""
        return self.template is not None

    @property
    def file_name(self) -> str:
        """The value's file, relative to the secrets dir: `file:` or the secret's name."""
        return self.file or self.name

    def path_in(self, secrets_dir: Path) -> Path:
        """The value's file under `secrets_dir` (the base file; versions: core/versions)."""
        return secrets_dir / self.file_name

    @property
    def is_multiline(self) -> bool:
        """Whether the value may span lines: kind pem, or text with `multiline: true`."""
        return self.kind == "pem" or self.multiline

    def consumer(self, service: str) -> Consumer | None:
        return next((c for c in self.consumers if c.service == service), None)


@dataclass(frozen=True)
class Manifest:
    """The manifest; `secrets` holds every mounted entry: the secrets and the config files
    (`configs:`, whose entries have a `template`; see `configs`)."""

    path: Path
    compose_files: tuple[str, ...]
    overlay: str
    secrets_dir: str
    state_dir: str
    example_dir: str = "secrets.example"
    secrets: dict[str, SecretSpec] = field(default_factory=dict)
    secrets_gid: int | None = None
    version: int = 1
    auth_guard: AuthGuard | None = None
    waivers: tuple[Waiver, ...] = ()  # accepted lint / check-secrets findings (core/waivers.py)
    backup_recipients: tuple[str, ...] = ()  # age recipients of the break-glass copies
    backend: BackendConfig | None = None  # a secrets manager (core/backend.py)
    deploy: DeploySpec = field(default_factory=DeploySpec)  # `deploy:` (core/manifest_deploy)

    @property
    def services(self) -> list[str]:
        """Every consumer service, in first-seen order."""
        seen: dict[str, None] = {}
        for spec in self.secrets.values():
            for consumer in spec.consumers:
                seen.setdefault(consumer.service)
        return list(seen)

    @property
    def files(self) -> dict[str, str]:
        """secret -> its file relative to the secrets dir (`file:`, else its name)."""
        return {name: spec.file_name for name, spec in self.secrets.items()}

    @property
    def insensitive(self) -> frozenset[str]:
        """The secrets marked `sensitive: false` (configuration): never searched for leaks."""
        return frozenset(n for n, spec in self.secrets.items() if not spec.sensitive)

    @property
    def stored(self) -> dict[str, SecretSpec]:
        """The secrets whose values are supplied or generated, by name: every entry of
        `secrets` except the configs, which are rendered from them. A secrets manager holds
        exactly these."""
        return {n: spec for n, spec in self.secrets.items() if not spec.is_config}

    @property
    def configs(self) -> dict[str, SecretSpec]:
        """The config files (`configs:`), by name: entries of `secrets` with a template."""
        return {n: spec for n, spec in self.secrets.items() if spec.is_config}

    def configs_using(self, secrets: Iterable[str]) -> tuple[str, ...]:
        """The configs rendered from any of `secrets`, in manifest order."""
        wanted = set(secrets)
        return tuple(n for n, spec in self.configs.items() if wanted & set(spec.inputs))

    def secrets_of(self, service: str) -> list[SecretSpec]:
        return [s for s in self.secrets.values() if s.consumer(service)]

    def groups(self) -> dict[str, list[str]]:
        """Exchange (or other) groups: group name -> its secrets, for `rotate exchange NAME`."""
        out: dict[str, list[str]] = {}
        for spec in self.secrets.values():
            if spec.group:
                out.setdefault(spec.group, []).append(spec.name)
        return out
