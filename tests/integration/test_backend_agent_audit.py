"""`audit-logs` on the agent path against the REAL `bao server -dev` (no Docker engine: `--file`):
the values searched for are the backend's (the latest version of each entry and every pinned
one), read into memory only; with no secrets dir on this host at all, a value planted in a log
file is found, in its encodings, and never printed."""

from __future__ import annotations

import base64
import json
import secrets as pyrandom
import shutil
from pathlib import Path

import hvac

from tests.backendkit import AGENT_MANIFEST, approle, openbao_manifest, openbao_server
from tests.canary import Canaries
from tests.stackkit_backend import project_with_values


def test_audit_logs_searches_the_backends_versions_without_a_secrets_dir(
    tmp_path: Path, cli
) -> None:
    values = {"db_password": pyrandom.token_urlsafe(32), "api_token": pyrandom.token_urlsafe(32)}
    with openbao_server(tmp_path) as server:
        prefix = "titan" + pyrandom.token_hex(3)
        role, secret_id = approle(server, tmp_path, prefix)
        project = project_with_values(tmp_path, AGENT_MANIFEST, values)
        auth = f"{{role_id_file: {role}, secret_id_file: {secret_id}}}"
        section = openbao_manifest(server, prefix, auth) + "  agent: {}\n"
        manifest = project / "secrets.manifest.yml"
        manifest.write_text(manifest.read_text() + section)
        assert cli("-C", project, "push").exit_code == 0
        state = project / ".titan-deploy"
        state.mkdir(exist_ok=True)
        (state / "backend-pins.json").write_text(json.dumps({"db_password": {"base": 1}}))
        # a central write after the pin: version 2 is the latest, version 1 still deployed
        newer = pyrandom.token_urlsafe(32)
        client = hvac.Client(url=server.url, token=server.token)
        client.secrets.kv.v2.create_or_update_secret(
            path=f"{prefix}/db_password", secret={"value": newer}, mount_point="secret"
        )
        shutil.rmtree(project / "secrets")  # nothing on this host: only the backend
        log = tmp_path / "app.log"
        log.write_text(
            "start\n"
            f"connecting with {values['db_password']}\n"
            f"token={base64.b64encode(newer.encode()).decode()}\n"
            "clean line\n"
        )
        result = cli("-C", project, "--json", "audit-logs", "--file", log)
        canaries = Canaries({**{k: v.encode() for k, v in values.items()}, "new": newer.encode()})
        canaries.assert_clean(result.stdout + result.stderr, "audit-logs output")
        assert result.exit_code == 1, result.stdout + result.stderr
        doc = json.loads(result.stdout)
        hits = {(h["line"], h["secret"], h["encoding"]) for h in doc["data"]["hits"]}
        assert hits == {(2, "db_password", "raw"), (3, "db_password", "base64@0")}
        assert doc["data"]["backend"] == "openbao"
        assert set(doc["data"]["secrets_searched"]) == {"db_password", "api_token"}

        clean = tmp_path / "clean.log"
        clean.write_text("nothing here\n")
        result = cli("-C", project, "audit-logs", "--file", clean)
        assert result.exit_code == 0, result.stdout + result.stderr
        canaries.assert_clean(result.stdout + result.stderr, "audit-logs output")
