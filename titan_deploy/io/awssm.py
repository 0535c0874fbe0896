"""AWS Secrets Manager as a secrets backend (core/backend.py `SecretBackend`; README "Secrets
managers"), through `boto3`.

Each secret is the Secrets Manager secret named `<prefix>/<name>`, its SecretString the value;
a write is a new version (AWSCURRENT moves to it). Endpoint, region and credentials come from the
standard AWS configuration (environment, profile, instance role); the manifest may name a
`region` and an `endpoint_url` (tests: moto's server). Failures are one line naming the backend
and path, never AWS's own text nor a value: unreachable, denied -> exit 3; no credentials or
region -> exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from titan_deploy.core import backendhold
from titan_deploy.core.backend import BackendConfig, Pinned, Stored, encode_value, stored
from titan_deploy.errors import ConfigError, RuntimeFailure

MAX_SECRET_STRING = 65536  # Secrets Manager's limit on SecretString, in bytes
DENIED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
# An AWS error code as AWS writes them (`ResourceNotFoundException`, `400`); the code is the
# server's text: anything else (an endpoint echoing the request) is not shown
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.]{0,63}")


class AwsSecretsManager:
    """A Secrets Manager client for `config`, from the standard AWS configuration; `pinned`:
    the versions its writes keep labelled (core/backend.py `Pinned`)."""

    def __init__(self, config: BackendConfig, pinned: Pinned | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self.pinned = pinned
        self._where = "aws-secretsmanager" + (
            f" at {config.endpoint_url}" if config.endpoint_url else ""
        )
        retry = Config(
            connect_timeout=config.timeout,
            read_timeout=config.timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        try:
            session = boto3.session.Session(region_name=config.region)
            self.client = session.client(
                "secretsmanager", endpoint_url=config.endpoint_url, config=retry
            )
        except Exception as exc:
            raise self._failure(exc, "client setup") from None

    def read(self, secret: str) -> Stored | None:
        """The AWSCURRENT version of `secret`'s entry; None when there is none."""
        return self.read_version(secret, "")

    def read_version(self, secret: str, version: str) -> Stored | None:
        """The version `version` (a VersionId; "": AWSCURRENT) of `secret`'s entry, with its
        `CreatedDate`; None when there is none."""
        name = self.config.path_of(secret)
        # AWSCURRENT named, as AWS reads it by default (moto's emulator follows a moved label
        # only when it is named: restore_current moves it)
        extra = {"VersionId": version} if version else {"VersionStage": "AWSCURRENT"}
        try:
            answer = self.client.get_secret_value(SecretId=name, **extra)
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise self._failure(exc, f"read of {self.config.location(secret)}") from None
        created = answer.get("CreatedDate")  # botocore: a datetime with its zone
        return stored(
            answer.get("SecretString"),
            answer.get("VersionId"),
            self.config.location(secret),
            "no SecretString (a binary secret); titan-deploy stores text",
            created.timestamp() if isinstance(created, datetime) else None,
        )

    def restore_current(self, secret: str, version: str, written: Collection[str]) -> bool:
        """After a rotation is rolled back: move AWSCURRENT back to `version` (the VersionId its
        consumers hold again) when it is on one of `written` (the VersionIds the undone rotation
        wrote), so neither `up` nor any other AWS client takes the aborted value; a version
        written by anyone else is left current. Whether it moved. RuntimeFailure (exit 3) when
        AWS refuses (DescribeSecret, UpdateSecretVersionStage)."""
        name = self.config.path_of(secret)
        what = f"restore of {self.config.location(secret)}'s AWSCURRENT"
        try:
            stages = self.client.describe_secret(SecretId=name).get("VersionIdsToStages") or {}
            current = next((v for v, labels in stages.items() if "AWSCURRENT" in labels), None)
            if current is None or current == version or current not in written:
                return False
            self.client.update_secret_version_stage(
                SecretId=name,
                VersionStage="AWSCURRENT",
                MoveToVersionId=version,
                RemoveFromVersionId=current,
            )
        except Exception as exc:
            raise self._failure(exc, what) from None
        return True

    def write(self, secret: str, value: bytes, previous: Stored | None) -> str:
        """Write `value` as a new version (a new secret when `previous` is None); its VersionId."""
        text = encode_value(secret, value)
        if len(value) > MAX_SECRET_STRING:
            raise ConfigError(
                f"{secret}: {len(value)} bytes is over Secrets Manager's limit of "
                f"{MAX_SECRET_STRING}"
            )
        name = self.config.path_of(secret)
        what = f"write of {self.config.location(secret)}"
        try:
            if previous is None:
                answer = self.client.create_secret(Name=name, SecretString=text)
            else:
                answer = self.client.put_secret_value(SecretId=name, SecretString=text)
        except Exception as exc:
            raise self._failure(exc, what) from None
        keep = self.pinned(secret) if self.pinned and previous is not None else ()
        if keep:  # each pinned version keeps its label through the write (AWSPREVIOUS moves)
            self.hold(secret, keep)
        return str(answer.get("VersionId", ""))

    def hold(self, secret: str, versions: Collection[str]) -> None:
        """Label each of `versions` `titan-deploy-<VersionId>` (AWS keeps a labelled version)
        and remove titan-deploy's labels from every other version of `secret`. A version the
        secret no longer has is left to `pin_states`. RuntimeFailure (exit 3) when AWS refuses
        (the policy needs secretsmanager:UpdateSecretVersionStage and ListSecretVersionIds)."""
        where = self.config.location(secret)
        backendhold.check_count(where, versions)
        listing = self._versions(secret)
        if listing is None:
            return
        add, remove = backendhold.label_moves(listing, {str(v) for v in versions})
        name = self.config.path_of(secret)
        try:
            for vid in add:
                self.client.update_secret_version_stage(
                    SecretId=name, VersionStage=backendhold.label_of(vid), MoveToVersionId=vid
                )
            for label, vid in remove:
                self.client.update_secret_version_stage(
                    SecretId=name, VersionStage=label, RemoveFromVersionId=vid
                )
        except Exception as exc:
            raise self._failure(exc, f"labelling of the pinned versions of {where}") from None

    def pin_states(self, secret: str, versions: Collection[str]) -> list[backendhold.PinState]:
        """The pinned `versions` the secret lost, or that lack titan-deploy's label."""
        if not versions:
            return []
        return backendhold.aws_states(self._versions(secret), {str(v) for v in versions})

    def _versions(self, secret: str) -> dict[str, list[str]] | None:
        """VersionId -> its staging labels, deprecated versions included; None: no secret."""
        name = self.config.path_of(secret)
        out: dict[str, list[str]] = {}
        token: str | None = None
        try:
            while True:
                extra = {"NextToken": token} if token else {}
                answer = self.client.list_secret_version_ids(
                    SecretId=name, IncludeDeprecated=True, MaxResults=100, **extra
                )
                for entry in answer.get("Versions") or []:
                    out[str(entry.get("VersionId"))] = list(entry.get("VersionStages") or [])
                token = answer.get("NextToken")
                if not token:
                    return out
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise self._failure(exc, f"version list of {self.config.location(secret)}") from None

    def _failure(self, exc: BaseException, what: str) -> Exception:
        """One line for a boto3/botocore failure (its class or error code, never its text)."""
        from botocore import exceptions as aws

        if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
            return ConfigError(
                f"{self._where}: no AWS credentials for the {what} (the standard AWS "
                "configuration: AWS_PROFILE, ~/.aws/credentials, AWS_ACCESS_KEY_ID, a role)"
            )
        if isinstance(exc, aws.NoRegionError):
            return ConfigError(
                f"{self._where}: no AWS region for the {what}: set backend.region or AWS_REGION"
            )
        if isinstance(exc, aws.EndpointConnectionError | aws.ConnectTimeoutError):
            return RuntimeFailure(
                f"{self._where}: unreachable ({type(exc).__name__}) during the {what}; check the "
                "endpoint (backend.endpoint_url / AWS_ENDPOINT_URL) and the network"
            )
        code = _code(exc)
        if code in DENIED:
            return RuntimeFailure(
                f"{self._where}: permission denied ({code}) for the {what}; check the AWS "
                "credentials and their policy on the secret"
            )
        return RuntimeFailure(f"{self._where}: the {what} failed ({code or type(exc).__name__})")


def _code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else, and for a code that is not
    one word of letters, digits and dots: the server's text may echo the request's value)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str((response.get("Error") or {}).get("Code", ""))
        return code if CODE_RE.fullmatch(code) else ""
    return ""
