"""Which `*_FILE` env vars official images read: the table lint (and verify) judge by. Pure.

A service reads secret `X` from the file named by `X_FILE` — but a third-party image reads only
the names its entrypoint knows, spelled its own way. A name it does not read is silently ignored
and the image falls back to its default (Grafana: admin password `admin`). This module knows a
few official images and says nothing about any other (redis, bitnami/*, the Titan images: no
judgement, `convention_for` returns None).

Sources (checked against the images' docs and entrypoints):

- postgres — https://hub.docker.com/_/postgres ("Docker Secrets": `_FILE` is "only supported for
  POSTGRES_INITDB_ARGS, POSTGRES_PASSWORD, POSTGRES_USER, and POSTGRES_DB");
  docker-library/postgres `docker-entrypoint.sh` `file_env`: when both `X` and `X_FILE` are
  non-empty it prints "both X and X_FILE are set (but are exclusive)" and exits 1.
- mysql — https://hub.docker.com/_/mysql ("Docker Secrets": MYSQL_ROOT_PASSWORD, MYSQL_ROOT_HOST,
  MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD); docker-library/mysql `docker-entrypoint.sh`
  `docker_setup_env` calls `file_env` for exactly those, same exclusive check (exit 1).
- mariadb — https://hub.docker.com/_/mariadb ("Docker Secrets") and MariaDB/mariadb-docker
  `docker-entrypoint.sh`: `_mariadb_file_env` for MYSQL_/MARIADB_ ROOT_HOST, DATABASE, USER,
  PASSWORD, ROOT_PASSWORD; `file_env` for MARIADB_PASSWORD_HASH, MARIADB_ROOT_PASSWORD_HASH,
  MARIADB_REPLICATION_USER, MARIADB_REPLICATION_PASSWORD, MARIADB_REPLICATION_PASSWORD_HASH,
  MARIADB_MASTER_HOST, MARIADB_MASTER_PORT; same exclusive check (exit 1).
- grafana — https://grafana.com/docs/grafana/latest/setup-grafana/configure-docker/ ("Configure
  Grafana with Docker Secrets": `GF_<SectionName>_<KeyName>__FILE`, a DOUBLE underscore);
  grafana/grafana `packaging/docker/run.sh` reads every `GF_*__FILE` and exits 1 with "Both X and
  X__FILE are set (but are exclusive)" when `X` is non-empty. A single-underscore
  `GF_SECURITY_ADMIN_PASSWORD_FILE` is just an unknown setting: Grafana ignores it. Some real
  settings do end in `_file` (conf/defaults.ini: server/smtp `cert_file`, `key_file`, auth.jwt
  `jwk_set_file`, auth.ldap `config_file`, azure `workload_identity_token_file`): those hold a
  path on purpose and are never judged.

Images are recognised by repository, ignoring registry, tag and digest: `postgres:16`,
`docker.io/library/postgres@sha256:...` and a mirror's `mirror.example/library/postgres` are the
official postgres image; `bitnami/postgresql` or `ghcr.io/acme/postgres` are not.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

SECRETS_DIR = "/run/secrets/"
SECRETISH = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|ACCESS_?KEY)",
)
_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^${}]*)\}")
_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


@dataclass(frozen=True)
class Convention:
    """How one image reads secrets from files.

    `file_vars`: the exact `*_FILE` names it reads (empty when `file_pattern` decides);
    `namespace`: prefixes of the image's own variables (a `*_FILE` name there that it does not
    read is a misspelling); `exclusive`: it refuses to start (exit 1) when `X` is non-empty next
    to its file var; `path_settings`: suffixes of real settings that hold a path (never judged).
    """

    name: str
    repositories: frozenset[str]
    file_vars: frozenset[str] = frozenset()
    file_pattern: re.Pattern[str] | None = None
    namespace: tuple[str, ...] = ()
    exclusive: bool = True
    path_settings: tuple[str, ...] = ()
    doc: str = ""

    def reads(self, name: str) -> bool:
        """Whether the image reads a file named by env var `name`."""
        if name in self.file_vars:
            return True
        return bool(self.file_pattern and self.file_pattern.fullmatch(name))

    def base(self, name: str) -> str | None:
        """`X` for a file var `name` this image reads (`X_FILE`, Grafana's `X__FILE`), else None."""
        if not self.reads(name):
            return None
        return name[: -len("__FILE")] if name.endswith("__FILE") else name[: -len("_FILE")]

    def suggest(self, name: str) -> str | None:
        """The name the image reads for a misspelt `name`, or None when nothing is close."""
        stem = re.sub(r"_+FILE$", "", name)
        if self.file_pattern is not None:  # grafana: GF_<SECTION>_<KEY>__FILE
            candidate = f"{stem}__FILE"
            return candidate if self.reads(candidate) else None
        if f"{stem}_FILE" in self.file_vars:
            return f"{stem}_FILE"
        close = difflib.get_close_matches(name, sorted(self.file_vars), n=1, cutoff=0.75)
        return close[0] if close else None


_MARIADB_BASES = ("ROOT_HOST", "DATABASE", "USER", "PASSWORD", "ROOT_PASSWORD")

CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        name="postgres",
        repositories=frozenset({"library/postgres"}),
        file_vars=frozenset(
            f"POSTGRES_{x}_FILE" for x in ("PASSWORD", "USER", "DB", "INITDB_ARGS")
        ),
        namespace=("POSTGRES_",),
        doc="https://hub.docker.com/_/postgres",
    ),
    Convention(
        name="mysql",
        repositories=frozenset({"library/mysql"}),
        file_vars=frozenset(f"MYSQL_{x}_FILE" for x in _MARIADB_BASES),
        namespace=("MYSQL_",),
        doc="https://hub.docker.com/_/mysql",
    ),
    Convention(
        name="mariadb",
        repositories=frozenset({"library/mariadb"}),
        file_vars=frozenset(
            [f"{p}_{x}_FILE" for p in ("MYSQL", "MARIADB") for x in _MARIADB_BASES]
            + [
                f"MARIADB_{x}_FILE"
                for x in (
                    "PASSWORD_HASH",
                    "ROOT_PASSWORD_HASH",
                    "REPLICATION_USER",
                    "REPLICATION_PASSWORD",
                    "REPLICATION_PASSWORD_HASH",
                    "MASTER_HOST",
                    "MASTER_PORT",
                )
            ]
        ),
        namespace=("MYSQL_", "MARIADB_"),
        doc="https://hub.docker.com/_/mariadb",
    ),
    Convention(
        name="grafana",
        repositories=frozenset(
            {"grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise"}
        ),
        file_pattern=re.compile(r"GF_[A-Z0-9_]*[A-Z0-9]__FILE"),
        namespace=("GF_",),
        path_settings=(
            "_CERT_FILE",
            "_KEY_FILE",
            "_JWK_SET_FILE",
            "_CONFIG_FILE",
            "_WORKLOAD_IDENTITY_TOKEN_FILE",
        ),
        doc="https://grafana.com/docs/grafana/latest/setup-grafana/configure-docker/",
    ),
)


def image_repository(image: str | None) -> str | None:
    """The repository path of an image reference, without registry, tag or digest.

    `postgres:16` -> `library/postgres`; `docker.io/grafana/grafana:11` -> `grafana/grafana`;
    `${REG:-ghcr.io}/acme/app:${TAG:-1}` -> `acme/app` (defaults substituted). None when the
    reference is empty or still holds a variable without a default.
    """
    if not image:
        return None
    ref = _DEFAULTED.sub(lambda m: m.group(1), image).strip()
    if not ref or "$" in ref:
        return None
    ref = ref.split("@", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and _REGISTRY.match(parts[0]):
        parts = parts[1:]
    parts[-1] = parts[-1].split(":", 1)[0]
    if len(parts) == 1:
        parts = ["library", *parts]
    return "/".join(parts).lower()


def convention_for(image: str | None) -> Convention | None:
    """The convention of an official image this module knows, else None (no judgement)."""
    repository = image_repository(image)
    return next((c for c in CONVENTIONS if repository in c.repositories), None)


@dataclass(frozen=True)
class UnreadFileVar:
    """An env var meant to name a secret file that the image never reads."""

    name: str
    image: str  # the convention's name: "grafana"
    suggestion: str | None  # the spelling the image reads, when one is close


def unread_file_var(
    image: str | None, name: str, value: str | None = None, declared: bool = False
) -> UnreadFileVar | None:
    """Judge env var `name` of a service running `image`: is it a file var the image ignores?

    `value`: the var's value when known (only used to see whether it points under
    /run/secrets/); `declared`: the manifest says the service consumes a secret through `name`.
    Judged only for images in CONVENTIONS and only when `name` ends in `_FILE` and is clearly
    meant for the image: declared by the manifest, pointing at /run/secrets/, in the image's own
    namespace (`POSTGRES_*`), or (Grafana) a secret-looking `GF_*_FILE`. None means no problem
    or no judgement.
    """
    conv = convention_for(image)
    if conv is None or not name.endswith("_FILE") or conv.reads(name):
        return None
    if any(name.endswith(tail) for tail in conv.path_settings) and name.startswith(conv.namespace):
        return None
    points_at_secret = bool(value and value.startswith(SECRETS_DIR))
    if declared or points_at_secret or _own_misspelling(conv, name):
        return UnreadFileVar(name=name, image=conv.name, suggestion=conv.suggest(name))
    return None


def _own_misspelling(conv: Convention, name: str) -> bool:
    if not name.startswith(conv.namespace):
        return False
    if conv.file_pattern is None:  # postgres, mysql, mariadb: every *_FILE of theirs is listed
        return True
    return bool(SECRETISH.search(re.sub(r"_+FILE$", "", name)))  # grafana: GF_..._PASSWORD_FILE
