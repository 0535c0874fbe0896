"""A secrets manager's failure is one line of ours, never the server's text (io/awssm.py,
io/openbao.py; README "Secrets managers"): a server that echoes the request (the value) in its
error code or message cannot put it on the screen."""

from __future__ import annotations

import secrets

import pytest

from tests.canary import assert_no_canary
from titan_deploy.core.backend import BackendConfig
from titan_deploy.errors import TitanError


def _aws(monkeypatch: pytest.MonkeyPatch, error: dict[str, str]):
    from botocore.exceptions import ClientError

    from titan_deploy.io.awssm import AwsSecretsManager

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    backend = AwsSecretsManager(
        BackendConfig(type="aws-secretsmanager", region="eu-west-1", endpoint_url="http://x:1")
    )

    class Echoing:
        def put_secret_value(self, **request: str) -> None:
            raise ClientError({"Error": error}, "PutSecretValue")

    backend.client = Echoing()
    return backend


@pytest.mark.parametrize("field", ["Code", "Message"])
def test_an_aws_error_echoing_the_value_shows_none_of_it(monkeypatch, field: str) -> None:
    from titan_deploy.core.backend import Stored

    value = f"Aws-{secrets.token_urlsafe(24)}".encode()
    error = {"Code": "ValidationException", "Message": "bad"}
    error[field] = value.decode()
    backend = _aws(monkeypatch, error)
    with pytest.raises(TitanError) as info:
        backend.write("api_token", value, Stored(b"old", "v1"))
    assert_no_canary({"api_token": value}, [str(info.value), repr(info.value)])
    assert "the write of" in str(info.value)


def test_an_aws_error_code_is_shown_when_it_is_one(monkeypatch) -> None:
    from titan_deploy.core.backend import Stored

    backend = _aws(monkeypatch, {"Code": "ThrottlingException", "Message": "slow down"})
    with pytest.raises(TitanError, match=r"failed \(ThrottlingException\)"):
        backend.write("api_token", b"v" * 20, Stored(b"old", "v1"))


@pytest.mark.parametrize(
    "error", ["InvalidRequest", "Forbidden", "InvalidPath", "InternalServerError", "VaultDown"]
)
def test_an_openbao_error_echoing_the_value_shows_none_of_it(error: str) -> None:
    import hvac.exceptions

    from titan_deploy.io.openbao import OpenBao

    value = f"Bao-{secrets.token_urlsafe(24)}"
    backend = OpenBao.__new__(OpenBao)  # no server: only its failure mapping is under test
    backend.config = BackendConfig(type="openbao", address="http://127.0.0.1:1")
    backend._where = "openbao at http://127.0.0.1:1"

    def echoing() -> None:
        raise getattr(hvac.exceptions, error)(
            f"the request held {value}", errors=[value], method="POST", url="/v1/x", text=value
        )

    with pytest.raises(TitanError) as info:
        backend._call(echoing, what="write of openbao:secret/titan/api_token")
    assert_no_canary({"api_token": value.encode()}, [str(info.value), repr(info.value)])
