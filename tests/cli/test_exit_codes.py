"""Exit codes of init, check-secrets, render and lint (README "Exit codes"): 0 good, 1 problems
found, 2 usage or configuration error, 3 runtime failure outside the tool. Never a traceback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest


def test_no_traceback_ever(cli, titan_project: Path) -> None:
    for args in (["init"], ["check-secrets"], ["render"], ["lint"], ["bogus"]):
        result = cli("-C", titan_project / "nope", *args)
        assert "Traceback" not in result.output


# --- init ----------------------------------------------------------------------------------------


def test_init_creates_the_store(cli, titan_project: Path) -> None:
    result = cli("-C", titan_project, "init")
    assert result.exit_code == 0, result.output
    store = titan_project / "secrets"
    assert stat.S_IMODE(store.stat().st_mode) == 0o750
    assert store.stat().st_gid == 10500
    assert sorted(os.listdir(store)) == sorted(
        [
            "binance_api_key",
            "binance_api_secret",
            "bybit_api_key",
            "bybit_api_secret",
            "gemini_api_key",
            "grafana_admin_password",
            "nats_password",
            "nats_user",
            "redis_password",  # redis.conf is rendered by render/up, not by init
            "titan_db_password",
            "titan_hmac_secret",
        ]
    )
    for path in store.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert path.stat().st_gid == 10500
    assert len((store / "titan_hmac_secret").read_bytes()) == 64
    assert len((store / "titan_db_password").read_bytes()) >= 24
    assert (titan_project / ".gitignore").read_text().splitlines()[-5:] == [
        "/secrets/",
        "/.env",
        "/.titan-deploy/",
        ".env.*",
        "!.env.example",
    ]
    # exchange keys are placeholders: check-secrets refuses them until filled in
    assert cli("-C", titan_project, "check-secrets").exit_code == 1


def test_init_never_overwrites(cli, titan_project: Path) -> None:
    assert cli("-C", titan_project, "init").exit_code == 0
    store = titan_project / "secrets"
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    result = cli("-C", titan_project, "--json", "init")
    assert result.exit_code == 0
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before
    rows = json.loads(result.stdout)["rows"]
    assert {row["action"] for row in rows} == {"kept (exists)"}


def test_init_from_dir_then_check_passes(cli, titan_project: Path, titan_values, tmp_path) -> None:
    source = tmp_path / "from"
    source.mkdir()
    for name in ("binance_api_key", "binance_api_secret", "bybit_api_key", "bybit_api_secret"):
        (source / name).write_bytes(titan_values[name])
    (source / "gemini_api_key").write_bytes(titan_values["gemini_api_key"] + b"\n")
    assert cli("-C", titan_project, "init", "--from", source).exit_code == 0
    store = titan_project / "secrets"
    assert (store / "binance_api_key").read_bytes() == titan_values["binance_api_key"]
    result = cli("-C", titan_project, "check-secrets")
    assert result.exit_code == 1, result.output  # a trailing newline is an error for an api-key
    assert "S005" in result.stdout
    assert cli("-C", titan_project, "check-secrets", "--fix").exit_code == 0
    assert (store / "gemini_api_key").read_bytes() == titan_values["gemini_api_key"]


def test_init_from_a_missing_dir_is_exit_2(cli, titan_project: Path) -> None:
    result = cli("-C", titan_project, "init", "--from", titan_project / "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --from ")
    assert not (titan_project / "secrets").exists()


def test_missing_project_dir_is_exit_2(cli, tmp_path: Path) -> None:
    result = cli("-C", tmp_path / "nope", "init")
    assert result.exit_code == 2
    assert result.stderr == f"error: project dir {tmp_path / 'nope'} does not exist\n"


def test_missing_manifest_is_exit_2(cli, tmp_path: Path) -> None:
    result = cli("-C", tmp_path, "check-secrets")
    assert result.exit_code == 2
    assert result.stderr == "error: secrets.manifest.yml: file not found\n"


# --- check-secrets -------------------------------------------------------------------------------


def test_check_secrets_ready(cli, ready_project: Path) -> None:
    result = cli("-C", ready_project, "check-secrets")
    assert result.exit_code == 0, result.output
    assert "secrets ready: 0 error(s), 0 warning(s)" in result.stdout


def test_check_secrets_problem_is_exit_1(cli, ready_project: Path) -> None:
    (ready_project / "secrets" / "titan_hmac_secret").write_bytes(b"ab" * 16)
    result = cli("-C", ready_project, "check-secrets")
    assert result.exit_code == 1
    assert "titan_hmac_secret" in result.stdout
    assert "S006" in result.stdout


def test_check_secrets_fix_turns_1_into_0(cli, ready_project: Path) -> None:
    path = ready_project / "secrets" / "bybit_api_key"
    os.chmod(path, 0o644)
    assert cli("-C", ready_project, "check-secrets").exit_code == 1
    result = cli("-C", ready_project, "check-secrets", "--fix")
    assert result.exit_code == 0, result.output
    assert "1 fix(es) applied" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_check_secrets_warnings_alone_are_exit_0(cli, ready_project: Path) -> None:
    (ready_project / "secrets" / "notes.txt").write_text("stray")
    result = cli("-C", ready_project, "check-secrets")
    assert result.exit_code == 0
    assert "S014" in result.stdout


def test_check_secrets_alternative_secrets_dir(cli, ready_project: Path) -> None:
    os.rename(ready_project / "secrets", ready_project / "other")
    assert cli("-C", ready_project, "check-secrets").exit_code == 1
    result = cli("-C", ready_project, "--secrets-dir", "other", "check-secrets")
    assert result.exit_code == 0, result.output


# --- render --------------------------------------------------------------------------------------


def test_render_writes_and_is_idempotent(cli, titan_project: Path) -> None:
    overlay = titan_project / "docker-compose.secrets.yml"
    expected = overlay.read_text()
    overlay.unlink()
    result = cli("-C", titan_project, "render")
    assert result.exit_code == 0
    assert "wrote docker-compose.secrets.yml" in result.stdout
    assert overlay.read_text() == expected
    assert stat.S_IMODE(overlay.stat().st_mode) == 0o644
    again = cli("-C", titan_project, "render")
    assert again.exit_code == 0
    assert "overlay unchanged" in again.stdout


def test_render_check_drift_is_exit_1(cli, titan_project: Path) -> None:
    overlay = titan_project / "docker-compose.secrets.yml"
    overlay.write_text(overlay.read_text() + "# hand edit\n")
    assert cli("-C", titan_project, "render", "--check").exit_code == 1
    overlay.unlink()
    assert cli("-C", titan_project, "render", "--check").exit_code == 1
    assert not overlay.exists()


def test_render_unknown_consumer_is_exit_2(cli, titan_project: Path) -> None:
    prod = titan_project / "docker-compose.prod.yml"
    prod.write_text(prod.read_text().replace("  titan-sentinel:\n", "  titan-sentinel-x:\n"))
    result = cli("-C", titan_project, "render")
    assert result.exit_code == 2
    assert "titan-sentinel not defined in docker-compose.prod.yml" in result.stderr


def test_render_missing_compose_file_is_exit_2(cli, titan_project: Path) -> None:
    result = cli("-C", titan_project, "-f", "nope.yml", "render")
    assert result.exit_code == 2
    assert result.stderr == "error: nope.yml: file not found\n"


def test_render_with_another_compose_file(cli, titan_project: Path) -> None:
    os.rename(titan_project / "docker-compose.prod.yml", titan_project / "stack.yml")
    assert cli("-C", titan_project, "render", "--check").exit_code == 2
    assert cli("-C", titan_project, "-f", "stack.yml", "render", "--check").exit_code == 0


# --- lint ----------------------------------------------------------------------------------------


def test_lint_clean_is_exit_0(cli, titan_project: Path) -> None:
    result = cli("-C", titan_project, "lint")
    assert result.exit_code == 0, result.output
    assert "compose config clean" in result.stdout


def test_lint_problem_is_exit_1(cli, titan_project: Path) -> None:
    prod = titan_project / "docker-compose.prod.yml"
    prod.write_text(
        prod.read_text().replace(
            '      GF_USERS_ALLOW_SIGN_UP: "false"\n',
            '      GF_USERS_ALLOW_SIGN_UP: "false"\n      GF_SECURITY_ADMIN_PASSWORD: admin\n',
        )
    )
    result = cli("-C", titan_project, "lint")
    assert result.exit_code == 1
    assert "grafana" in result.stdout


def test_lint_without_overlay_is_exit_2(cli, titan_project: Path) -> None:
    (titan_project / "docker-compose.secrets.yml").unlink()
    assert cli("-C", titan_project, "lint").exit_code == 2


def test_lint_without_compose_is_exit_3(cli, titan_project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = cli("-C", titan_project, "lint", env={"PATH": str(empty), "TITAN_COMPOSE": ""})
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Docker Compose v2 not found: install")


# --- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["check-secrets", "--bogus"],
        ["--bogus", "check-secrets"],
        ["render", "--check=maybe"],
        ["init", "--from"],
        ["no-such-command"],
        ["check-secrets", "extra-argument"],
    ],
)
def test_usage_errors_are_exit_2(cli, titan_project: Path, args: list[str]) -> None:
    result = cli("-C", titan_project, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
