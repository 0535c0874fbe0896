"""Secrets managers (README "Secrets managers"): the manifest's `backend:` section, the
interface every backend implements, and the pure decisions of `push` and `pull`.

A backend holds one entry per manifest secret, at `<prefix>/<secret name>` (OpenBao/Vault KV v2:
under the `mount`; AWS Secrets Manager: the secret's name), each write a new version. The
implementations live in io/ (`io/openbao.py`, `io/awssm.py`, chosen by `io/backends.py`); this
module never talks to one. Credentials are named by path only (a token file, AppRole role-id and
secret-id files): never a value in the manifest, argv or the environment of a subprocess.

Pure: parsing and planning; values are compared, never shown (`Stored.__repr__` hides them).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from titan_deploy.core.manifest_validate import Validator
from titan_deploy.core.redact import remember
from titan_deploy.core.yamlpos import KeyPath
from titan_deploy.errors import ConfigError, RuntimeFailure

KINDS = ("openbao", "aws-secretsmanager")
BACKEND_KEYS = {
    "type",
    "address",
    "mount",
    "prefix",
    "auth",
    "ca_file",
    "namespace",
    "region",
    "endpoint_url",
    "timeout",
    "agent",
}
OPENBAO_ONLY = ("address", "mount", "auth", "ca_file", "namespace")
AGENT_KEYS = {"address", "image", "network_mode", "render_interval"}
# aws-secretsmanager's sidecar (core/agent_aws.py): the endpoint as it reaches it, and the
# standard AWS shared credentials/config files mounted into it (paths, never values)
AWS_AGENT_KEYS = {"endpoint_url", "image", "network_mode", "render_interval"}
AWS_AGENT_FILES = ("credentials_file", "config_file")
NETWORK_MODES = ("host",)  # the agent beside a server that listens on the host's 127.0.0.1
DEFAULT_RENDER_INTERVAL = 5  # seconds between the agent's reads of each KV entry
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_.-]+)?$")
AWS_ONLY = ("region", "endpoint_url")
AUTH_KEYS = {"token_file", "role_id_file", "secret_id_file", "approle_mount"}
URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # a mount or prefix segment: no `..`, no spaces
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
DEFAULT_PREFIX = "titan"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class BackendAuth:
    """How to log in to OpenBao/Vault: a token file, or AppRole from a role-id file and a
    secret-id file (paths relative to the project dir, or absolute). Never a value."""

    token_file: str | None = None
    role_id_file: str | None = None
    secret_id_file: str | None = None
    approle_mount: str = "approle"

    @property
    def method(self) -> str:
        return "token" if self.token_file else "approle"


@dataclass(frozen=True)
class BackendConfig:
    """The manifest's `backend:`: which secrets manager, where, and how to log in."""

    type: str
    prefix: str = DEFAULT_PREFIX
    address: str | None = None  # openbao
    mount: str = "secret"  # openbao: the KV v2 mount
    auth: BackendAuth | None = None  # openbao
    ca_file: str | None = None  # openbao: CA bundle for https
    namespace: str | None = None  # openbao/Vault Enterprise namespace
    region: str | None = None  # aws: else the standard AWS configuration
    endpoint_url: str | None = None  # aws: else the standard endpoint (tests: moto)
    timeout: float = DEFAULT_TIMEOUT  # seconds, per request
    agent_address: str | None = None  # the server (aws: endpoint) as the agent container reaches it
    agent_image: str | None = None  # the agent sidecar's image
    agent: bool = False  # `agent:` is set: up/verify/down/rotate use the agent path
    agent_network_mode: str | None = None  # openbao: the sidecar's network_mode (host)
    agent_render_interval: int = DEFAULT_RENDER_INTERVAL  # seconds (static_secret_render_interval)
    agent_credentials_file: str | None = None  # aws: the shared credentials file of the sidecar
    agent_config_file: str | None = None  # aws: the shared config file of the sidecar

    def path_of(self, secret: str) -> str:
        """The entry's path within the backend: `<prefix>/<secret>`."""
        return f"{self.prefix}/{secret}" if self.prefix else secret

    def location(self, secret: str) -> str:
        """How findings and rows name the entry (never a value): `openbao:secret/titan/x`."""
        if self.type == "openbao":
            return f"openbao:{self.mount}/{self.path_of(secret)}"
        return f"aws-secretsmanager:{self.path_of(secret)}"


@dataclass(frozen=True)
class Stored:
    """One entry as the backend holds it: its current `value` and `version` (KV v2's version
    number, Secrets Manager's VersionId), as text, and when that version was created (epoch
    seconds: KV v2's `created_time`, Secrets Manager's `CreatedDate`; None when the backend
    did not say). `repr()` never shows the value."""

    value: bytes
    version: str
    created: float | None = None

    def __repr__(self) -> str:
        return f"Stored(version={self.version!r}, {len(self.value)} bytes)"


def stored(
    text: object, version: object, location: str, expected: str, created: float | None = None
) -> Stored:
    """An entry read from a backend as a Stored (`created`: its version's creation time, epoch
    seconds), its value remembered by the scrubber of this run's output (core/redact.py: in
    memory only). RuntimeFailure naming `location` and what titan-deploy `expected` there when
    `text` is not a string."""
    if not isinstance(text, str):
        raise RuntimeFailure(f"{location}: {expected}; fix or remove it")
    raw = text.encode("utf-8")
    remember([raw])
    return Stored(raw, str(version or ""), created)


class SecretBackend(Protocol):
    """What push, pull and check-secrets --backend need of a secrets manager. Failures raise
    TitanError: ConfigError (exit 2) for what the manifest or a credential file says,
    RuntimeFailure (exit 3) for what the server answers (unreachable, denied); their messages
    name the backend and the path, never a value nor the server's own words."""

    config: BackendConfig

    def read(self, secret: str) -> Stored | None:
        """The current version of `secret`'s entry; None when there is none (or it is deleted)."""
        ...

    def write(self, secret: str, value: bytes, previous: Stored | None) -> str:
        """Write `value` as a new version of `secret`'s entry (created when `previous` is None;
        OpenBao checks-and-sets against `previous`); returns the new version."""
        ...

    def read_version(self, secret: str, version: str) -> Stored | None:
        """That version of `secret`'s entry; None when there is none (or it is deleted)."""
        ...

    def hold(self, secret: str, versions: Collection[str]) -> None:
        """Keep exactly `versions` of `secret` (those a consumer is pinned to) from the
        backend's own cleanup (core/backendhold.py): Secrets Manager labels each and unlabels
        the versions it held before; KV v2 has no such hold (its writes refuse instead)."""
        ...

    def pin_states(self, secret: str, versions: Collection[str]) -> list:
        """core/backendhold.PinState for each of `versions` the backend lost or may lose."""
        ...


Pinned = Callable[[str], Collection[str]]
"""secret -> every backend version a consumer is pinned to (io/backendpins.py `held`): a
backend given one never lets its own write lose one of them (core/backendhold.py)."""


# --- parsing the manifest's `backend:` ---------------------------------------------------------


def parse_backend(v: Validator, top: dict) -> BackendConfig | None:
    """The manifest's `backend:` as a BackendConfig, None when absent. ConfigError (exit 2) with
    file:line key path for an unknown key, a wrong type, a key of the other backend, an OpenBao
    backend without `address` or `auth`, or a path that is not a plain path."""
    raw = v.get((), top, "backend", dict, None)
    if raw is None:
        return None
    path: KeyPath = ("backend",)
    v.known_keys(path, raw, BACKEND_KEYS)
    kind = v.choice(path, raw, "type", KINDS, required=True)
    foreign = AWS_ONLY if kind == "openbao" else OPENBAO_ONLY
    for key in foreign:
        if key in raw:
            raise v.doc.error((*path, key), f"not a key of type {kind}")
    prefix = _prefix(v, path, raw)
    timeout = float(v.get(path, raw, "timeout", (int, float), DEFAULT_TIMEOUT))
    if not 0 < timeout <= 600:
        raise v.doc.error((*path, "timeout"), "must be a number of seconds above 0, at most 600")
    if kind == "aws-secretsmanager":
        return BackendConfig(
            type=kind,
            prefix=prefix,
            region=_matching(v, path, raw, "region", REGION_RE, "an AWS region (eu-west-1)"),
            endpoint_url=_matching(v, path, raw, "endpoint_url", URL_RE, "an http(s)://HOST URL"),
            timeout=timeout,
            **_agent(v, path, raw, aws=True),
        )
    address = _matching(v, path, raw, "address", URL_RE, "an http(s)://HOST[:PORT] URL")
    if address is None:
        raise v.doc.error(path, "missing required key `address` (https://bao.example:8200)")
    mount = v.get(path, raw, "mount", str, "secret")
    _segments(v, (*path, "mount"), mount)
    namespace = v.get(path, raw, "namespace", str, None)
    if namespace is not None:
        _segments(v, (*path, "namespace"), namespace)
    return BackendConfig(
        type=kind,
        prefix=prefix,
        address=address.rstrip("/"),
        mount=mount,
        auth=_auth(v, path, raw),
        ca_file=_file(v, path, raw, "ca_file"),
        namespace=namespace,
        timeout=timeout,
        **_agent(v, path, raw),
    )


def _agent(v: Validator, path: KeyPath, raw: dict, aws: bool = False) -> dict[str, Any]:
    """`agent: {address, image, network_mode, render_interval}` (aws-secretsmanager:
    `endpoint_url` instead of `address`, plus `credentials_file`, `config_file`): the agent path
    is on (up, verify, down and rotate deploy through the sidecar), how it reaches the server,
    its image."""
    body = v.get(path, raw, "agent", dict, None)
    if body is None:
        return {}
    apath: KeyPath = (*path, "agent")
    v.known_keys(apath, body, AWS_AGENT_KEYS | set(AWS_AGENT_FILES) if aws else AGENT_KEYS)
    interval = v.get(apath, body, "render_interval", int, DEFAULT_RENDER_INTERVAL)
    if isinstance(interval, bool) or not 1 <= interval <= 3600:
        raise v.doc.error((*apath, "render_interval"), "must be whole seconds, 1 to 3600")
    address = "endpoint_url" if aws else "address"
    files = {f"agent_{key}": _file(v, apath, body, key) for key in AWS_AGENT_FILES if aws}
    return {
        **files,
        "agent": True,
        "agent_address": _matching(v, apath, body, address, URL_RE, "an http(s)://HOST URL"),
        "agent_image": _matching(v, apath, body, "image", IMAGE_RE, "an image name (repo:tag)"),
        "agent_network_mode": v.choice(apath, body, "network_mode", NETWORK_MODES),
        "agent_render_interval": interval,
    }


def _auth(v: Validator, path: KeyPath, raw: dict) -> BackendAuth:
    body = v.get(path, raw, "auth", dict, None)
    apath: KeyPath = (*path, "auth")
    if body is None:
        raise v.doc.error(
            path,
            "missing required key `auth` ({token_file: PATH} or role_id_file + secret_id_file)",
        )
    v.known_keys(apath, body, AUTH_KEYS)
    token = _file(v, apath, body, "token_file")
    role, secret_id = _file(v, apath, body, "role_id_file"), _file(v, apath, body, "secret_id_file")
    if token and (role or secret_id):
        raise v.doc.error(apath, "either token_file or role_id_file + secret_id_file, not both")
    if not token and not (role and secret_id):
        raise v.doc.error(apath, "needs token_file, or both role_id_file and secret_id_file")
    approle = v.get(apath, body, "approle_mount", str, "approle")
    _segments(v, (*apath, "approle_mount"), approle)
    return BackendAuth(token, role, secret_id, approle)


def _prefix(v: Validator, path: KeyPath, raw: dict) -> str:
    prefix = v.get(path, raw, "prefix", str, DEFAULT_PREFIX).strip("/")
    if prefix:
        _segments(v, (*path, "prefix"), prefix)
    return prefix


def _segments(v: Validator, path: KeyPath, value: str) -> None:
    """A `/`-separated path of plain segments (no `.`/`..`, nothing empty)."""
    parts = value.split("/")
    if not value or any(p in ("", ".", "..") or not SEGMENT_RE.match(p) for p in parts):
        raise v.doc.error(path, "should be a path of [A-Za-z0-9_.-] segments (titan/prod)")


def _matching(
    v: Validator, path: KeyPath, raw: dict, key: str, pattern: re.Pattern, what: str
) -> str | None:
    value = v.get(path, raw, key, str, None)
    if value is not None and not pattern.match(value):
        raise v.doc.error((*path, key), f"should be {what}")
    return value


def _file(v: Validator, path: KeyPath, raw: dict, key: str) -> str | None:
    """A credential or CA file's path (relative to the project dir, or absolute)."""
    value = v.get(path, raw, key, str, None)
    if value is not None and (not value or not value.isprintable() or "\x00" in value):
        raise v.doc.error((*path, key), "should be a file path")
    return value


# --- the decisions of push and pull -------------------------------------------------------------


def push_action(local: bytes | None, remote: Stored | None) -> str:
    """create / update / unchanged / missing for one secret (values compared in constant
    time)."""
    if local is None:
        return "missing"
    if remote is None:
        return "create"
    return "unchanged" if same(local, remote.value) else "update"


def pull_action(remote: Stored | None, local: bytes | None, force: bool) -> str:
    """What pull does with one secret: `absent` (not in the backend), `write` (no local file),
    `unchanged`, `replace` (differs, --force), `differs` (differs: refused without --force)."""
    if remote is None:
        return "absent"
    if local is None:
        return "write"
    if same(local, remote.value):
        return "unchanged"
    return "replace" if force else "differs"


def same(a: bytes, b: bytes) -> bool:
    """Whether two values are equal, in constant time."""
    return hmac.compare_digest(a, b)


def encode_value(secret: str, value: bytes) -> str:
    """A value as the text a backend stores (both store strings). ConfigError (naming the
    secret only) when it is not UTF-8 (push refuses such a value before it writes)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{secret}: the value is not UTF-8 text; a backend stores text") from None


def summary_counts(rows: list[dict[str, Any]], key: str = "action") -> dict[str, int]:
    """How many rows per action, for the summary line and `data.counts`."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return counts
