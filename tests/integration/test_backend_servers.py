"""push, pull and check-secrets --backend against the REAL servers (README "Secrets managers"):
OpenBao's `bao server -dev` (KV v2; token and AppRole logins) and moto's Secrets Manager
emulator driven by the real boto3. No Docker engine needed; the servers are started by
tests/backendkit.py on 127.0.0.1 (random ports) and stopped at the end.
"""

from __future__ import annotations

import json
import os
import secrets as pyrandom
import time
from pathlib import Path

import pytest

from tests.backendkit import (
    Server,
    approle,
    aws_manifest,
    openbao_manifest,
    with_backend,
)
from tests.canary import Canaries


@pytest.fixture(autouse=True)
def _aws(aws_env) -> None:
    """The standard AWS variables for every test here (backend_fixtures.aws_env)."""


def token_file(server: Server, where: Path) -> Path:
    path = where / "bao-token"
    path.write_text(server.token + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(params=["openbao-token", "openbao-approle", "aws"])
def backed(request, ready_project: Path, tmp_path: Path) -> Path:
    """The ready Titan project with a `backend:` on a fresh prefix of a real server."""
    prefix = "titan/" + pyrandom.token_hex(4)
    if request.param == "aws":
        section = aws_manifest(request.getfixturevalue("moto"), prefix)
    else:
        server = request.getfixturevalue("bao")
        if request.param == "openbao-token":
            auth = f"{{token_file: {token_file(server, tmp_path)}}}"
        else:
            role, secret = approle(server, tmp_path, prefix)
            auth = f"{{role_id_file: {role}, secret_id_file: {secret}}}"
        section = openbao_manifest(server, prefix, auth)
    with_backend(ready_project, section)
    return ready_project


def run_json(cli, project: Path, *args: str) -> tuple[int, dict]:
    result = cli("-C", project, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def actions(doc: dict) -> dict[str, str]:
    return {row["secret"]: row["action"] for row in doc["rows"]}


def test_push_is_idempotent_and_pull_restores(backed: Path, titan_values, cli) -> None:
    code, doc = run_json(cli, backed, "push", "--dry-run")
    assert code == 0 and set(actions(doc).values()) == {"create"}
    code, doc = run_json(cli, backed, "check-secrets", "--backend")
    # dry run: nothing written; each config's derived entry is missing too (B005, a warning)
    assert code == 1 and {f["code"] for f in doc["findings"]} == {"S001", "B005"}

    code, doc = run_json(cli, backed, "push")
    assert code == 0, doc
    assert set(actions(doc).values()) == {"create"}
    first = {row["secret"]: row["version"] for row in doc["rows"]}
    code, doc = run_json(cli, backed, "push")
    assert code == 0 and set(actions(doc).values()) == {"unchanged"}
    assert {row["secret"]: row["version"] for row in doc["rows"]} == first  # no new version

    code, doc = run_json(cli, backed, "check-secrets", "--backend")
    assert code == 0, doc["findings"]
    assert {row["status"] for row in doc["rows"]} == {"ok"}

    # one changed value: one new version, the others unchanged
    name = "titan_db_password"
    (backed / "secrets" / name).write_bytes(pyrandom.token_urlsafe(32).encode())
    code, doc = run_json(cli, backed, "push")
    assert actions(doc)[name] == "update"
    assert {a for s, a in actions(doc).items() if s != name} == {"unchanged"}
    assert {r["secret"]: r["version"] for r in doc["rows"]}[name] not in ("", first[name])

    # break-glass: the secrets dir is lost; pull brings every value back, 0600/0640
    new_db = (backed / "secrets" / name).read_bytes()
    for path in (backed / "secrets").iterdir():
        path.unlink()
    code, doc = run_json(cli, backed, "pull")
    assert code == 0 and set(actions(doc).values()) == {"write"}
    for secret, value in titan_values.items():
        got = (backed / "secrets" / secret).read_bytes()
        assert got == (new_db if secret == name else value)
        assert (backed / "secrets" / secret).stat().st_mode & 0o077 in (0, 0o040)
    code, doc = run_json(cli, backed, "check-secrets")
    assert code == 0, doc["findings"]


def test_pull_refuses_a_differing_local_value_without_force(backed: Path, cli) -> None:
    assert run_json(cli, backed, "push")[0] == 0
    path = backed / "secrets" / "titan_db_password"
    local = pyrandom.token_urlsafe(32).encode()
    path.write_bytes(local)
    code, doc = run_json(cli, backed, "pull")
    assert code == 1 and actions(doc)["titan_db_password"] == "differs"
    assert [f["code"] for f in doc["findings"]] == ["B003"]
    assert path.read_bytes() == local
    code, doc = run_json(cli, backed, "pull", "--force", "--dry-run")
    assert actions(doc)["titan_db_password"] == "replace" and path.read_bytes() == local
    code, doc = run_json(cli, backed, "pull", "--force")
    assert code == 0 and actions(doc)["titan_db_password"] == "replace"
    assert path.read_bytes() != local


def test_push_refuses_a_placeholder_and_check_backend_finds_one(backed: Path, cli) -> None:
    name = "grafana_admin_password"
    (backed / "secrets" / name).write_bytes(b"changeme")
    code, doc = run_json(cli, backed, "push")
    assert code == 1 and actions(doc)[name] == "refused"
    assert any(f["code"] == "S007" and f["secret"] == name for f in doc["findings"])
    code, doc = run_json(cli, backed, "check-secrets", "--backend")
    assert code == 1
    assert [f["code"] for f in doc["findings"] if f["secret"] == name] == ["S001"]


def test_history_records_push_and_pull_never_dry_runs(backed: Path, cli) -> None:
    run_json(cli, backed, "push", "--dry-run")
    run_json(cli, backed, "push")
    run_json(cli, backed, "pull")
    records = [
        json.loads(line)
        for line in (backed / ".titan-deploy" / "history.jsonl").read_text().splitlines()
    ]
    assert [r["command"] for r in records] == ["push", "pull"]
    assert "titan_db_password" in records[0]["what"]["secrets"]


def test_no_backend_in_the_manifest_is_exit_2(ready_project: Path, cli) -> None:
    for args in (["push"], ["pull"], ["check-secrets", "--backend"]):
        result = cli("-C", ready_project, *args)
        assert result.exit_code == 2, args
        assert "no `backend:`" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["down", "bad-token", "no-token-file", "bad-mount", "aws-down"])
def test_failures_are_one_line(case: str, ready_project: Path, tmp_path: Path, bao, cli) -> None:
    """Unreachable, refused, a missing credential file, a missing mount: one line, exit 3 for
    the server's answer, 2 for the manifest's or a file's; never a traceback."""
    tokens = tmp_path / "token"
    tokens.write_text(bao.token if case == "bad-mount" else "s." + pyrandom.token_hex(12))
    auth = f"{{token_file: {tokens if case != 'no-token-file' else tmp_path / 'nope'}}}"
    section = openbao_manifest(bao, "titan", auth)
    if case == "down":
        section = section.replace(bao.url, "http://127.0.0.1:9")
    if case == "bad-mount":
        section += "  mount: nosuch\n"
    if case == "aws-down":
        section = aws_manifest(Server(None, "http://127.0.0.1:9"), "titan")  # type: ignore[arg-type]
    with_backend(ready_project, section)
    result = cli("-C", ready_project, "push")
    expected = {"down": 3, "bad-token": 3, "no-token-file": 2, "bad-mount": 2, "aws-down": 3}
    assert result.exit_code == expected[case], result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert tokens.read_text() not in result.stderr


def test_canary_never_in_any_output(backed: Path, titan_values, cli, tmp_path: Path) -> None:
    """Random values through every new command (text and --json): none in stdout/stderr, the
    history, the state dir, a temp file, or any process's argv."""
    canaries = Canaries(titan_values)
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    os.environ["TMPDIR"] = str(tmp)
    try:
        runs = [
            ["push", "--dry-run"],
            ["push"],
            ["push"],
            ["check-secrets", "--backend"],
            ["pull"],
            ["pull", "--force"],
        ]
        if "role_id_file" in (backed / "secrets.manifest.yml").read_text():
            runs += [["render-agent"], ["render-agent", "--check"]]
        for args in runs:
            if args[0] == "render-agent":
                without_configs(backed)  # nats_auth_conf's target is off /run/secrets
            for fmt in ([], ["--json"], ["-v"]):
                result = cli("-C", backed, *fmt, *args)
                assert result.exit_code in (0, 1), (args, result.stderr)
                canaries.assert_clean(result.stdout, f"stdout of {args} {fmt}")
                canaries.assert_clean(result.stderr, f"stderr of {args} {fmt}")
                canaries.assert_clean(" ".join(_all_argv()), f"argv during {args}")
    finally:
        del os.environ["TMPDIR"]
    rendered = [backed / "bao-agent.hcl", backed / "docker-compose.agent.yml"]
    for path in [*(backed / ".titan-deploy").rglob("*"), *tmp.rglob("*"), *rendered]:
        if path.exists():
            canaries.assert_clean(path.read_text(errors="replace"), str(path))


def without_configs(project: Path) -> None:
    """Drop the manifest's `configs:` section (the agent path refuses nats_auth_conf's target,
    /run/secrets/nats/auth.conf: the agent renders into /run/secrets only)."""
    manifest = project / "secrets.manifest.yml"
    text = manifest.read_text()
    start = text.find("\nconfigs:\n")
    if start >= 0:
        end = text.index("\nsecrets:\n", start)
        manifest.write_text(text[:start] + text[end:])


def _all_argv() -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return out


def test_an_entry_not_written_by_titan_deploy_is_one_line(ready_project: Path, tmp_path, bao, cli):
    """A KV entry without the `value` key (someone else's layout): exit 3, one line naming it."""
    import hvac

    prefix = "titan/" + pyrandom.token_hex(4)
    client = hvac.Client(url=bao.url, token=bao.token)
    client.secrets.kv.v2.create_or_update_secret(
        path=f"{prefix}/titan_db_password", secret={"password": "x"}, mount_point="secret"
    )
    auth = f"{{token_file: {token_file(bao, tmp_path)}}}"
    with_backend(ready_project, openbao_manifest(bao, prefix, auth))
    result = cli("-C", ready_project, "check-secrets", "--backend")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"error: openbao:secret/{prefix}/titan_db_password: no text `value` key (titan-deploy "
        "stores each secret as {value: TEXT}); fix or remove it"
    ]


def test_no_aws_credentials_is_exit_2(ready_project: Path, tmp_path, moto, cli, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask beyond this machine
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with_backend(ready_project, aws_manifest(moto, "titan"))
    result = cli("-C", ready_project, "pull")
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "no AWS credentials" in result.stderr


DAY = 86400


@pytest.mark.parametrize("kind", ["openbao", "aws"])
def test_ages_come_from_the_backends_version_metadata(kind: str, tmp_path: Path, request) -> None:
    """Ages from the backend's version metadata (ops/backend_ages.py; KV v2 `created_time`,
    Secrets Manager `CreatedDate`): status on the agent path ages the version the consumers
    hold (OpenBao: the pinned version, not the latest), check-secrets --backend the current
    one; S024 past max_age_days naming the entry and its version; an entry the backend lacks
    has no age; never a value."""
    from tests.projectkit import small_project
    from titan_deploy.core.secretage import age_findings
    from titan_deploy.io import backendpins
    from titan_deploy.ops.agent_stack import connect
    from titan_deploy.ops.backend_ages import backend_ages
    from titan_deploy.ops.check_backend import run_check_backend

    prefix = "titan/" + pyrandom.token_hex(4)
    if kind == "aws":
        section = aws_manifest(request.getfixturevalue("moto"), prefix)
    else:
        server = request.getfixturevalue("bao")
        section = openbao_manifest(
            server, prefix, f"{{token_file: {token_file(server, tmp_path)}}}"
        )
    manifest = (
        "version: 1\ncompose_files: [compose.yml]\nsecrets:\n"
        "  api_token: {kind: token, max_age_days: 30, consumers: {web: API_TOKEN_FILE}}\n"
        "  other: {kind: token, consumers: {web: OTHER_FILE}}\n" + section
    )
    project = small_project(tmp_path / "p", manifest, {})
    backend = connect(project)
    values = [f"tok-{pyrandom.token_urlsafe(24)}".encode() for _ in range(2)]
    before = time.time()
    first = backend.write("api_token", values[0], None)
    backend.write("api_token", values[1], backend.read("api_token"))
    after = time.time()
    old, latest = backend.read_version("api_token", first), backend.read("api_token")
    assert old is not None and latest is not None and old.created and latest.created
    assert before - 5 <= old.created <= latest.created <= after + 5
    held = old if kind == "openbao" else latest  # the agent path pins KV versions only
    if kind == "openbao":
        backendpins.pin(project, "api_token", "base", int(first))

    ages = backend_ages(project, backend, now=held.created + 31 * DAY)
    assert [(a.secret, a.age_days, a.too_old) for a in ages] == [("api_token", 31, True)]
    assert ages[0].file == f"{backend.config.location('api_token')} (version {held.version})"
    [finding] = age_findings(ages, "")
    assert finding.code == "S024" and finding.message.startswith(ages[0].file + " is 31 days")
    assert backend_ages(project, backend, now=held.created + 29 * DAY)[0].too_old is False
    checked = run_check_backend(project, now=latest.created + 31 * DAY)
    where = f"{backend.config.location('api_token')} (version {latest.version})"
    assert [a["file"] for a in checked.data["ages"]] == [where]
    assert sorted((f.code, f.secret) for f in checked.findings if f.code in ("S024", "S001")) == [
        ("S001", "other"),  # not in the backend: no age
        ("S024", "api_token"),
    ]
    text = repr(ages) + finding.message + json.dumps(checked.data) + checked.summary
    Canaries({"a": values[0], "b": values[1]}).assert_clean(text, "ages")
