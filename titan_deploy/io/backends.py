"""The secrets backend a manifest names (README "Secrets managers"): `open_backend` picks the
implementation of core/backend.py's `SecretBackend` and logs in. The clients (hvac, boto3) are
imported only here, lazily: commands that use no backend never load them."""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.backend import BackendConfig, Pinned, SecretBackend


def open_backend(
    config: BackendConfig, base_dir: Path, pinned: Pinned | None = None
) -> SecretBackend:
    """A connected backend for `config` (credential and CA paths relative to `base_dir`, the
    project dir); `pinned`: the versions its writes must never lose (core/backendhold.py).
    Raises ConfigError (exit 2) for a missing credential file or region,
    RuntimeFailure (exit 3) when the server is unreachable or refuses the login."""
    if config.type == "openbao":
        from titan_deploy.io.openbao import OpenBao

        return OpenBao(config, base_dir, pinned)
    from titan_deploy.io.awssm import AwsSecretsManager

    return AwsSecretsManager(config, pinned)
