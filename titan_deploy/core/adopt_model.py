"""The values `adopt` plans with (core/adopt.py reads the project, core/adopt_rules.py decides,
core/adopt_render.py writes text). PURE. None of them holds a secret value except `Values`,
which only the writer uses and whose repr never shows one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from titan_deploy.core.manifest import Manifest
from titan_deploy.core.yamlpos import Located


@dataclass(frozen=True)
class ComposeFile:
    """One compose file as ops read it: its name relative to the project dir, its parse, and
    `base`: its directory relative to the project dir (posix; `..` parts for a file outside it;
    "" for the project dir), which its relative `env_file:` paths are taken from (a file that
    `include:` names resolves them from its own directory)."""

    display: str
    doc: Located
    base: str = ""


@dataclass(frozen=True)
class AdoptInput:
    """Everything adopt decides from. `env_files`: project-relative path -> text (None: missing
    or unreadable); `dotenv`: the interpolation `.env` text (None: none)."""

    compose: tuple[ComposeFile, ...]
    env_files: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    dotenv: str | None = field(default=None, repr=False)
    dotenv_display: str = ".env"
    manifest: Manifest | None = None
    secrets_dir: str = "secrets"
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    project_name: str | None = None  # as Compose resolves it: a value equal to it is weak
    # service -> env name -> the value its container gets, as Compose reads it (`config`,
    # interpolated): a value adopt reads otherwise is refused. Empty: not asked.
    compose_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    # compose files Compose also reads (`include:`d) that `compose` does not hold: adopt plans
    # nothing from them, but a `.env` variable one of them reads is never adopted
    included: tuple[ComposeFile, ...] = ()


@dataclass(frozen=True)
class ConsumerPlan:
    """A service of an adopted secret: the file env vars it will read (`envs`), the plain names
    it got the value under (`reads`) and the env files it got it from (`via`)."""

    service: str
    envs: tuple[str, ...]
    reads: tuple[str, ...]
    via: tuple[str, ...]
    # names an upstream `environment:` sets from `${V}`: the overlay takes them out (core/overlay
    # resets a plain X where the consumer reads X_FILE); the plan shows it
    resets: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretPlan:
    """One secret to adopt. `sources`: `file:line` of every line holding it; `found_by`:
    name, dsn or value (--include); `existing`: the manifest already declares it."""

    name: str
    kind: str
    consumers: tuple[ConsumerPlan, ...]
    sources: tuple[str, ...]
    found_by: str
    file: str
    bytes: int | None = None
    multiline: bool = False
    existing: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """Something adopt leaves as it is: the env names, where, why, and what to do instead."""

    names: tuple[str, ...]
    where: str
    reason: str
    service: str | None = None
    code: str = "A001"  # A006: check-secrets would reject the value


@dataclass(frozen=True)
class EnvEdit:
    """Lines (first, last: inclusive, 1-based) to take out of one env file, and their names."""

    file: str
    spans: tuple[tuple[int, int], ...]
    names: tuple[str, ...]
    secrets: tuple[str, ...]
    # `.env` names a compose file interpolates (`X: ${V}`, reset by the overlay): their line
    # becomes `V=<STAND_IN>` so that Compose, which interpolates every file before the overlay
    # resets X, still finds V set (a missing V is a warning, or an error for `${V:?}`)
    stand_in: tuple[str, ...] = ()


STAND_IN = "adopted-by-titan-deploy"
"""The value a `.env` variable keeps when adopted but still interpolated by an upstream file;
never a secret (adopt does not find it again), and a service given it without the overlay
fails closed (a wrong password, not an empty one)."""


@dataclass(frozen=True)
class AdoptPlan:
    secrets: tuple[SecretPlan, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    edits: tuple[EnvEdit, ...] = ()
    possible: tuple[Refusal, ...] = ()
    notes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # every env name the services get (for --include/--exclude)

    @property
    def adoptable(self) -> bool:
        return bool(self.secrets)


class Values(dict):
    """Secret name -> value (bytes), for the writer only. Its repr never shows a value."""

    def __repr__(self) -> str:
        return f"<Values: {len(self)} secret(s), not shown>"

    __str__ = __repr__


# --- where values come from ---------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One place a value reaches: a service's env var, or a compose interpolation."""

    service: str | None
    name: str  # the env name the service sees (or the interpolated variable)
    file: str  # the file the value is written in
    first: int
    last: int
    via: str  # env_file | environment | passthrough | interpolation | composed | argv | config
    ref: str | None = None  # the compose place that uses it (file:line or a key path)
    var: str | None = None  # the variable of the file holding the value
