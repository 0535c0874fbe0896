"""OpenBao (and HashiCorp Vault: the same HTTP API) KV v2 as a secrets backend (core/backend.py
`SecretBackend`; README "Secrets managers"), through `hvac`.

Each secret is the entry `<mount>/<prefix>/<name>` holding `{"value": TEXT}`; a write is a new KV
version, checked-and-set against the version it replaces. Login: the token in `auth.token_file`,
or AppRole with the ids in `auth.role_id_file` / `auth.secret_id_file` (read bounded, kept in
memory only). Failures are one line naming the server and path, never the server's own text
(which may echo a request) nor a value: unreachable, refused login, denied path -> exit 3;
a missing or empty credential file, an unknown mount -> exit 2.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from titan_deploy.core import backendhold
from titan_deploy.core.backend import BackendConfig, Pinned, Stored, encode_value, stored
from titan_deploy.core.redact import remember
from titan_deploy.core.timespec import parse_timestamp
from titan_deploy.errors import ConfigError, RuntimeFailure
from titan_deploy.io import fs


class OpenBao:
    """A logged-in KV v2 client for `config` (credential paths relative to `base_dir`);
    `pinned`: the versions its writes must keep (core/backend.py `Pinned`)."""

    def __init__(self, config: BackendConfig, base_dir: Path, pinned: Pinned | None = None) -> None:
        import hvac

        self.config = config
        self.pinned = pinned
        self._where = f"openbao at {config.address}"
        verify: bool | str = str(base_dir / config.ca_file) if config.ca_file else True
        self.client = hvac.Client(
            url=config.address, verify=verify, timeout=config.timeout, namespace=config.namespace
        )
        self._login(base_dir)

    def _login(self, base_dir: Path) -> None:
        auth = self.config.auth
        assert auth is not None  # the manifest requires it for openbao
        if auth.token_file:
            self.client.token = credential(base_dir, auth.token_file, "auth.token_file")
            self._call(self.client.auth.token.lookup_self, what="token lookup (auth.token_file)")
            return
        assert auth.role_id_file and auth.secret_id_file
        role_id = credential(base_dir, auth.role_id_file, "auth.role_id_file")
        secret_id = credential(base_dir, auth.secret_id_file, "auth.secret_id_file")
        self._call(
            lambda: self.client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=auth.approle_mount
            ),
            what=f"AppRole login at auth/{auth.approle_mount}",
        )

    def read(self, secret: str) -> Stored | None:
        """The current version of `secret`'s entry, None when there is none (or it is deleted)."""
        return self.read_version(secret, "")

    def read_version(self, secret: str, version: str) -> Stored | None:
        """KV version `version` of `secret`'s entry ("": the current one), with its
        `created_time`; None when there is none (or it is deleted)."""
        import hvac.exceptions

        path = self.config.path_of(secret)
        number = int(version) if version else None
        shown = self.config.location(secret) + (f" (version {number})" if number else "")
        try:
            answer = self._call(
                lambda: self.client.secrets.kv.v2.read_secret_version(
                    path=path,
                    version=number,
                    mount_point=self.config.mount,
                    raise_on_deleted_version=True,
                ),
                what=f"read of {shown}",
                missing_ok=True,
            )
        except hvac.exceptions.InvalidPath:
            return None
        data = answer.get("data") or {}
        metadata = data.get("metadata") or {}
        created = metadata.get("created_time")
        return stored(
            (data.get("data") or {}).get("value"),
            metadata.get("version"),
            self.config.location(secret),
            "no text `value` key (titan-deploy stores each secret as {value: TEXT})",
            parse_timestamp(created) if isinstance(created, str) else None,
        )

    def write(self, secret: str, value: bytes, previous: Stored | None) -> str:
        """Write `value` as a new version (check-and-set against `previous`); the new version.
        PinAtRisk (nothing written) when the write would destroy a pinned version."""
        text = encode_value(secret, value)
        self._guard(secret)
        cas = int(previous.version) if previous and previous.version.isdigit() else None
        answer = self._call(
            lambda: self.client.secrets.kv.v2.create_or_update_secret(
                path=self.config.path_of(secret),
                secret={"value": text},
                cas=cas,
                mount_point=self.config.mount,
            ),
            what=f"write of {self.config.location(secret)}",
        )
        return str(((answer or {}).get("data") or {}).get("version", ""))

    def hold(self, secret: str, versions: Collection[str]) -> None:
        """Nothing to do: KV v2 cannot hold a version; `write` refuses to destroy one."""

    def pin_states(self, secret: str, versions: Collection[str]) -> list[backendhold.PinState]:
        """The pinned `versions` of `secret` the key lost or will lose to the next write."""
        numbers = [int(v) for v in versions if str(v).isdigit()]
        if not numbers:
            return []
        try:
            return backendhold.kv_states(self.metadata(secret), numbers)
        except RuntimeFailure:  # no read on metadata/: each pinned version read instead
            gone = [n for n in sorted(set(numbers)) if self.read_version(secret, str(n)) is None]
            return [
                backendhold.PinState(str(n), "destroyed, deleted or missing", True) for n in gone
            ]

    def _guard(self, secret: str) -> None:
        """PinAtRisk when writing `secret` would push out a version a consumer is pinned to."""
        pinned = [int(v) for v in (self.pinned(secret) if self.pinned else ()) if str(v).isdigit()]
        if not pinned:
            return
        meta = self.metadata(secret)
        lost = [] if meta is None else backendhold.destroyed_by_write(meta, pinned)
        if lost:
            assert meta is not None
            where = self.config.location(secret)
            raise backendhold.PinAtRisk(backendhold.refusal(where, lost, meta.max_versions))

    def metadata(self, secret: str) -> backendhold.KvMeta | None:
        """The key's versions and its effective max_versions (the mount's config read when the
        key sets none); None when the key does not exist. Needs read on
        <mount>/metadata/<prefix>/* (and <mount>/config) in the policy."""
        import hvac.exceptions

        path = self.config.path_of(secret)
        what = f"metadata read of {self.config.location(secret)}"
        try:
            answer = self._call(
                lambda: self.client.secrets.kv.v2.read_secret_metadata(
                    path=path, mount_point=self.config.mount
                ),
                what=what,
                missing_ok=True,
                path="metadata",
            )
        except hvac.exceptions.InvalidPath:
            return None
        data = answer.get("data") or {}
        key_max = int(data.get("max_versions") or 0)
        mount_max = None if key_max else self._mount_max()
        now = time.time()
        versions = {}
        for number, entry in (data.get("versions") or {}).items():
            when = parse_timestamp(str(entry.get("deletion_time") or ""))
            deleted = when is not None and when <= now
            versions[int(number)] = (deleted, bool(entry.get("destroyed")))
        return backendhold.KvMeta(
            current=int(data.get("current_version") or 0),
            oldest=int(data.get("oldest_version") or 0),
            max_versions=backendhold.effective_max(key_max, mount_max),
            versions=versions,
        )

    def _mount_max(self) -> int:
        """The mount's max_versions (0: unset)."""
        answer = self._call(
            lambda: self.client.secrets.kv.v2.read_configuration(mount_point=self.config.mount),
            what=f"read of the KV mount's config ({self.config.mount}/config: max_versions)",
            path="config",
        )
        return int(((answer or {}).get("data") or {}).get("max_versions") or 0)

    def _call(self, call: Any, *, what: str, missing_ok: bool = False, path: str = "data") -> Any:
        """Run one hvac call; its failures as one line (never the server's text nor a value);
        `path`: the policy path a denial names (data, metadata; config: the mount's)."""
        import hvac.exceptions
        import requests

        try:
            return call()
        except requests.exceptions.RequestException as exc:
            raise RuntimeFailure(
                f"{self._where}: unreachable ({type(exc).__name__}) during the {what}; is it "
                "running, and are backend.address (and ca_file) right?"
            ) from None
        except (hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden):
            raise RuntimeFailure(
                f"{self._where}: permission denied for the {what}; check the credentials "
                "(backend.auth) and the policy's capabilities on "
                + (
                    f"{self.config.mount}/config"
                    if path == "config"
                    else f"{self.config.mount}/{path}/{self.config.prefix}/*"
                )
            ) from None
        except hvac.exceptions.InvalidPath as exc:
            if "no handler for route" in str(exc):  # Vault's words for an unknown mount
                raise ConfigError(
                    f"{self._where}: no KV v2 mount at `{self.config.mount}` (backend.mount) "
                    f"for the {what}"
                ) from None
            if missing_ok:
                raise
            raise RuntimeFailure(f"{self._where}: not found: the {what}") from None
        except hvac.exceptions.InvalidRequest:
            raise RuntimeFailure(
                f"{self._where}: the server refused the {what} (for a write: the entry "
                "changed since it was read, or the mount is not KV version 2); run it again"
            ) from None
        except hvac.exceptions.VaultError as exc:
            raise RuntimeFailure(
                f"{self._where}: the {what} failed ({type(exc).__name__}); is it unsealed?"
            ) from None


def credential(base_dir: Path, name: str, key: str) -> str:
    """The stripped content of the credential file `name` (relative to `base_dir`, or
    absolute), read bounded and kept in memory (and in the scrubber's list). ConfigError (exit
    2) naming the manifest key and path when it is missing, unreadable or empty."""
    path = base_dir / name
    try:
        raw = fs.read_secret(path).strip()
    except OSError as exc:  # missing, unreadable; UnsafeFile/TooLarge: str() is the reason
        raise ConfigError(f"backend.{key}: {name}: {exc.strerror or exc}") from None
    if not raw:
        raise ConfigError(f"backend.{key}: {name} is empty")
    remember([raw])
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"backend.{key}: {name} is not a token (ASCII text)") from None
