"""`titan-deploy adopt` through the CLI on a project laid out like real Titan (tests/adoptkit.py):
the dry run writes nothing; the run writes the secret files (modes), the manifest, the overlay
and the env file without the adopted lines (a 0600 backup kept); the compose file is unchanged
byte for byte; an existing secret file with a different value is never overwritten; no value
reaches stdout or stderr in any mode or encoding, nor any file written outside the secrets dir
and the backups."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from pathlib import Path

import pytest

from tests.adoptkit import TitanLike, write_titan_like
from tests.cli.test_canary import CONSOLE_SCRIPT, Canaries
from titan_deploy.core.manifest import load_manifest

MODES = [[], ["--json"], ["-v"], ["--json", "-v"]]
ADOPTED = {
    "titan_db_password",
    "titan_hmac_secret",  # sentinel's `TITAN_HMAC_SECRET=${HMAC_SECRET}`: the overlay resets it
    "binance_api_key",
    "binance_api_secret",
    "gemini_api_key",
}


@pytest.fixture
def titan(tmp_path: Path) -> TitanLike:
    return write_titan_like(tmp_path / "titan")


@pytest.fixture
def canaries(titan: TitanLike) -> Canaries:
    # the DSN's own secret part is the db password (a canary); the rest of it is public text
    return Canaries({k: v for k, v in titan.values.items() if k != "DATABASE_URL"})


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            out[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mode)
    return out


def adopt(cli, titan: TitanLike, *args: str, mode: list[str] | None = None):
    return cli("-C", titan.root, "-f", "docker-compose.prod.yml", *(mode or []), "adopt", *args)


def test_dry_run_shows_the_plan_writes_nothing_and_prints_no_value(
    cli, titan: TitanLike, canaries: Canaries
) -> None:
    before = snapshot(titan.root)
    for mode in MODES:
        result = adopt(cli, titan, "--dry-run", mode=mode)
        where = f"adopt --dry-run {mode}"
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        canaries.assert_clean(result.stdout, f"{where} stdout")
        canaries.assert_clean(result.stderr, f"{where} stderr")
    assert snapshot(titan.root) == before
    doc = json.loads(adopt(cli, titan, "--dry-run", mode=["--json"]).stdout)
    data = doc["data"]
    assert {s["name"] for s in data["secrets"]} == ADOPTED | {"database_url"}
    db = next(s for s in data["secrets"] if s["name"] == "titan_db_password")
    brain = next(c for c in db["consumers"] if c["service"] == "titan-brain")
    assert brain["env"] == ["TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"]
    assert brain["reads"] == ["TITAN_DB_PASSWORD", "DB_PASSWORD"]
    assert {tuple(r["names"]) for r in data["refused"]} >= {
        ("REDIS_PASSWORD",),
        ("NATS_BRAIN_PASSWORD",),
    }
    edits = {e["file"]: e for e in data["env_edits"]}
    assert sorted(edits) == [".env", ".env.prod"]
    assert edits[".env"]["stand_in"] == ["HMAC_SECRET"]  # still interpolated upstream
    hmac = next(s for s in data["secrets"] if s["name"] == "titan_hmac_secret")
    sentinel = next(c for c in hmac["consumers"] if c["service"] == "titan-sentinel")
    assert sentinel["resets"] == ["TITAN_HMAC_SECRET"]
    assert data["dry_run"] is True and data["written"] == []
    assert data["manifest"]["action"] == "create"
    assert (
        '"titan-brain": ["TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"]'
        in data["manifest"]["entries"]
    )


def test_adopt_writes_files_manifest_overlay_and_env_files_with_a_backup(
    cli, titan: TitanLike, canaries: Canaries
) -> None:
    compose = (titan.root / "docker-compose.prod.yml").read_bytes()
    env_before = (titan.root / ".env.prod").read_bytes()
    result = adopt(cli, titan)
    assert result.exit_code == 0, result.output
    canaries.assert_clean(result.stdout + result.stderr, "adopt")
    root = titan.root
    assert (root / "docker-compose.prod.yml").read_bytes() == compose
    store = root / "secrets"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    for name in ADOPTED | {"database_url"}:
        assert stat.S_IMODE((store / name).stat().st_mode) == 0o600
    assert (store / "titan_db_password").read_bytes() == titan.values["DB_PASSWORD"]
    assert (store / "database_url").read_bytes() == titan.values["DATABASE_URL"]
    manifest = load_manifest(root / "secrets.manifest.yml")
    brain = manifest.secrets["titan_db_password"].consumer("titan-brain")
    assert brain is not None and brain.envs == ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    env_after = (root / ".env.prod").read_text()
    assert "NODE_ENV=production" in env_after and "NATS_BRAIN_PASSWORD=" in env_after
    backups = {p.name.split(".20")[0]: p for p in (root / ".titan-deploy" / "adopt").iterdir()}
    assert sorted(backups) == [".env", ".env.prod"]
    assert backups[".env.prod"].read_bytes() == env_before
    assert {stat.S_IMODE(p.stat().st_mode) for p in backups.values()} == {0o600}
    moved = (
        "DB_PASSWORD",
        "HMAC_SECRET",
        "BINANCE_API_KEY",
        "BINANCE_API_SECRET",
        "GEMINI_API_KEY",
    )
    adopted = Canaries({k: titan.values[k] for k in moved})  # refused ones stay in .env.prod
    adopted.assert_clean(env_after, ".env.prod")
    for path in (root / "secrets.manifest.yml", root / ".gitignore"):
        canaries.assert_clean(path.read_text(), str(path.name))
    overlay = (root / "docker-compose.secrets.yml").read_text()
    canaries.assert_clean(overlay, "overlay")
    assert "DB_PASSWORD_FILE" in overlay
    for args in (["render", "--check"], ["check-secrets"]):
        done = cli("-C", root, *args)
        assert done.exit_code == 0, done.output
        canaries.assert_clean(done.output, " ".join(args))
    again = adopt(cli, titan)
    assert again.exit_code == 1 and "nothing to adopt" in again.output


def test_adopt_git_ignores_what_init_does(cli, titan: TitanLike) -> None:
    """The .gitignore entries are init's (README: "`.gitignore` entries as `init` adds them"):
    the secrets dir, `.env`, the state dir and every `.env.*` but `.env.example` (`.env.prod`
    was left untracked-and-not-ignored before)."""
    result = adopt(cli, titan)
    assert result.exit_code == 0, result.output
    lines = (titan.root / ".gitignore").read_text().splitlines()
    for entry in ("/secrets/", "/.env", "/.titan-deploy/", ".env.*", "!.env.example"):
        assert entry in lines, (entry, lines)


def test_an_existing_secret_with_another_value_is_never_overwritten(
    cli, titan: TitanLike, canaries: Canaries
) -> None:
    store = titan.root / "secrets"
    store.mkdir(mode=0o700)
    (store / "titan_db_password").write_bytes(b"another-value-" + os.urandom(8).hex().encode())
    before = snapshot(titan.root)
    for mode in MODES:
        result = adopt(cli, titan, mode=mode)
        assert result.exit_code == 1, result.output
        canaries.assert_clean(result.stdout + result.stderr, f"adopt {mode}")
        assert "A003" in result.output
    assert snapshot(titan.root) == before


def test_an_existing_secret_with_the_same_value_is_kept(cli, titan: TitanLike) -> None:
    store = titan.root / "secrets"
    store.mkdir(mode=0o700)
    (store / "titan_db_password").write_bytes(titan.values["DB_PASSWORD"])
    os.chmod(store / "titan_db_password", 0o600)
    result = adopt(cli, titan)
    assert result.exit_code == 0, result.output
    assert (store / "titan_db_password").read_bytes() == titan.values["DB_PASSWORD"]


def test_bad_input_is_one_line_exit_2(cli, titan: TitanLike, tmp_path: Path) -> None:
    (titan.root / "docker-compose.prod.yml").write_text("services: [\n")
    result = adopt(cli, titan, "--dry-run")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len([ln for ln in result.stderr.splitlines() if ln.strip()]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("-C", empty, "adopt", "--dry-run")
    assert result.exit_code == 2 and "name yours with -f" in result.output


def test_help_explains(cli) -> None:
    result = cli("adopt", "--help")
    assert result.exit_code == 0
    for word in ("--dry-run", "--include", "--exclude", "--secrets-gid", "backup", "never"):
        assert word in result.output


def test_a_symlinked_env_file_is_refused_before_anything_is_written(
    cli, titan: TitanLike, tmp_path: Path
) -> None:
    real = tmp_path / "real.env"
    (titan.root / ".env.prod").rename(real)
    (titan.root / ".env.prod").symlink_to(real)
    before = snapshot(titan.root)
    for args in (["--dry-run"], []):  # the dry run predicts the refusal
        result = adopt(cli, titan, *args)
        assert result.exit_code == 2, result.output
        assert "is a symlink" in result.output
    assert snapshot(titan.root) == before and not (titan.root / "secrets").exists()


def test_the_report_itself_holds_no_value(titan: TitanLike, canaries: Canaries) -> None:
    """Before the CLI's scrubber: the report adopt returns (dry run and run) is value-free."""
    from titan_deploy.ops.adopt import run_adopt
    from titan_deploy.project import Project

    for dry_run in (True, False):
        project = Project(project_dir=titan.root, compose_file_options=["docker-compose.prod.yml"])
        report = run_adopt(project, dry_run=dry_run, include=["WEBHOOK_SIGNING"])
        assert report.exit_code == 0
        canaries.assert_clean(json.dumps(report.to_dict()), f"report (dry run {dry_run})")
        canaries.assert_clean(repr(report), f"repr(report) (dry run {dry_run})")


def test_console_script_leaves_no_value_in_temp_files_or_output(
    titan: TitanLike, canaries: Canaries, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    for args in (["--dry-run"], ["--json", "--dry-run"], []):
        json_flag = ["--json"] if "--json" in args else []
        rest = [a for a in args if a != "--json"]
        argv = [str(CONSOLE_SCRIPT), "-C", str(titan.root), "-f", "docker-compose.prod.yml"]
        done = subprocess.run(
            [*argv, *json_flag, "adopt", *rest],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        canaries.assert_clean(done.stdout + done.stderr, f"adopt {args}")
    assert not any(tmpdir.iterdir())
    leftovers = [p.name for p in titan.root.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_a_second_adopt_adds_to_the_manifest_keeping_what_was_there(cli, titan: TitanLike) -> None:
    first = adopt(cli, titan, "--exclude", "GEMINI_API_KEY")
    assert first.exit_code == 0, first.output
    manifest = titan.root / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text().replace("version: 1\n", "version: 1  # mine\n"))
    assert "gemini_api_key" not in load_manifest(manifest).secrets
    second = adopt(cli, titan)
    assert second.exit_code == 0, second.output
    text = manifest.read_text()
    assert "version: 1  # mine" in text
    assert set(load_manifest(manifest).secrets) == ADOPTED | {"database_url"}
    assert "GEMINI_API_KEY=" not in (titan.root / ".env.prod").read_text()
    backups = sorted(
        p.name.split(".20")[0] for p in (titan.root / ".titan-deploy" / "adopt").iterdir()
    )
    assert backups == [".env", ".env.prod", ".env.prod"]  # .env once: the second run left it
    assert cli("-C", titan.root, "render", "--check").exit_code == 0


def test_a_run_interrupted_before_the_env_files_finishes_when_run_again(
    cli, titan: TitanLike
) -> None:
    original = (titan.root / ".env.prod").read_bytes()
    assert adopt(cli, titan).exit_code == 0
    manifest = (titan.root / "secrets.manifest.yml").read_bytes()
    (titan.root / ".env.prod").write_bytes(original)  # as if killed before step 4
    again = adopt(cli, titan)
    assert again.exit_code == 0, again.output
    assert (titan.root / "secrets.manifest.yml").read_bytes() == manifest
    assert "DB_PASSWORD=" not in (titan.root / ".env.prod").read_text().replace("# ", "#")


# --- adopt asks Compose (issue 10, adopt fault 5) -----


def test_a_project_compose_rejects_is_one_line_exit_2(cli, titan: TitanLike) -> None:
    path = titan.root / "docker-compose.prod.yml"
    path.write_text(path.read_text().replace("services:", "bogus_top_level: 1\nservices:", 1))
    before = snapshot(titan.root)
    result = adopt(cli, titan, "--dry-run")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "compose rejects docker-compose.prod.yml" in lines[0]
    assert snapshot(titan.root) == before


def test_a_value_compose_reads_otherwise_is_refused_not_written_wrong(
    cli, titan: TitanLike
) -> None:
    """Compose expands `$WORD` in an unquoted dotenv value: the container never got the text
    as written, so adopt must not write that text as the secret."""
    env = titan.root / ".env.prod"
    env.write_text(env.read_text() + "PAYMENT_TOKEN=cnryA8f3k$Q9zLmXw2Pq7Rt5\n")
    result = adopt(cli, titan, "--dry-run", mode=["--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert "payment_token" not in {s["name"] for s in data["secrets"]}
    reasons = [r["reason"] for r in data["refused"] if r["names"] == ["PAYMENT_TOKEN"]]
    assert reasons and "Compose gives" in reasons[0]


@pytest.mark.parametrize("option", ["--include", "--exclude"])
def test_an_include_or_exclude_name_that_matches_nothing_is_exit_2(
    cli, titan: TitanLike, option: str
) -> None:
    result = adopt(cli, titan, "--dry-run", option, "WEBHOOK_SIGNNG")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert f"{option} WEBHOOK_SIGNNG" in lines[0] and "WEBHOOK_SIGNING" in lines[0]


def test_a_name_tie_is_decided_and_said(cli, titan: TitanLike) -> None:
    env = titan.root / ".env.prod"
    value = "cnry" + os.urandom(16).hex()
    env.write_text(env.read_text() + f"PG_PASSWORD={value}\nMQ_PASSWORD={value}\n")
    result = adopt(cli, titan, "--dry-run", mode=["--json"])
    data = json.loads(result.stdout)["data"]
    (secret,) = [s for s in data["secrets"] if {"PG_PASSWORD"} <= set(s["consumers"][0]["reads"])]
    assert secret["name"] == "mq_password"
    assert any("PG_PASSWORD is as long" in n for n in secret["notes"])


def test_rows_say_what_happens_and_notes_show_in_the_text_report(cli, titan: TitanLike) -> None:
    store = titan.root / "secrets"
    store.mkdir(mode=0o700)
    (store / "titan_db_password").write_bytes(b"another-value-" + os.urandom(8).hex().encode())
    doc = json.loads(adopt(cli, titan, mode=["--json"]).stdout)
    actions = {r["secret"]: r["action"] for r in doc["rows"]}
    assert "holds another value" in actions["titan_db_password"]
    assert actions["gemini_api_key"].startswith("not written")
    assert not any(a.startswith("adopt") for a in actions.values())
    text = adopt(cli, titan, "--dry-run", "--exclude", "GEMINI_API_KEY").stdout
    assert "excluded (--exclude)" in text  # an A005 note, without -v


def test_an_overlay_that_would_copy_a_secret_looking_entry_stops_before_anything_is_written(
    cli, titan: TitanLike
) -> None:
    """Sentinel's `environment:` is a list: the overlay must repeat its other entries to reset
    TITAN_HMAC_SECRET, and refuses to copy one that looks like a secret: adopt says so first."""
    path = titan.root / "docker-compose.prod.yml"
    path.write_text(path.read_text().replace("- HEADLESS=true", "- LEGACY_API_TOKEN=${LEGACY}"))
    before = snapshot(titan.root)
    for args in (["--dry-run"], []):
        result = adopt(cli, titan, *args)
        assert result.exit_code == 2, result.output
        assert "LEGACY_API_TOKEN looks like a secret" in result.stderr
    assert snapshot(titan.root) == before


def _included_project(root: Path, token: str, outside_token: str) -> Path:
    """compose.yaml includes app/compose.yaml (env_file app.env beside it, inside the project)
    and ../shared/compose.yaml (env_file beside it, outside the project dir)."""
    project = root / "proj"
    (project / "app").mkdir(parents=True)
    (root / "shared").mkdir()
    (project / "compose.yaml").write_text(
        "include:\n  - app/compose.yaml\n  - ../shared/compose.yaml\n"
        "services:\n  web:\n    image: busybox\n"
    )
    (project / "app" / "compose.yaml").write_text(
        "services:\n  api:\n    image: busybox\n    env_file: app.env\n"
    )
    (project / "app" / "app.env").write_text(f"API_TOKEN={token}\nLOG_LEVEL=info\n")
    (root / "shared" / "compose.yaml").write_text(
        "services:\n  worker:\n    image: busybox\n    env_file: worker.env\n"
    )
    (root / "shared" / "worker.env").write_text(f"WORKER_TOKEN={outside_token}\n")
    return project


def test_adopt_follows_include_and_reads_env_files_from_the_included_files_dir(
    cli, tmp_path: Path
) -> None:
    """An included file's `env_file:` is relative to THAT file's dir (as Compose reads it): its
    secret is adopted and that env file rewritten; an env file outside the project dir is read
    (its secret named) but never written: adopt says to edit it by hand."""
    token, outside = "cnry" + secrets.token_urlsafe(32), "cnry" + secrets.token_urlsafe(32)
    project = _included_project(tmp_path, token, outside)
    shared_before = snapshot(tmp_path / "shared")
    canaries = Canaries({"API_TOKEN": token.encode(), "WORKER_TOKEN": outside.encode()})
    result = cli("-C", project, "--json", "adopt")
    assert result.exit_code == 0, result.output
    canaries.assert_clean(result.stdout, "adopt stdout")
    canaries.assert_clean(result.stderr, "adopt stderr")
    data = json.loads(result.stdout)["data"]
    assert [s["name"] for s in data["secrets"]] == ["api_token"]
    assert (project / "secrets" / "api_token").read_text().strip() == token
    assert token not in (project / "app" / "app.env").read_text()
    assert "LOG_LEVEL=info" in (project / "app" / "app.env").read_text()
    refused = [r for r in data["refused"] if r["names"] == ["WORKER_TOKEN"]]
    assert refused and "outside the project dir" in refused[0]["reason"]
    assert "by hand" in refused[0]["reason"]
    assert snapshot(tmp_path / "shared") == shared_before


@pytest.mark.parametrize("reader", ["included", "top-level-secret"])
def test_a_dotenv_variable_another_part_of_the_project_reads_stays_in_the_dotenv(
    cli, tmp_path: Path, reader: str
) -> None:
    """Sentinel's `X: ${HMAC_SECRET}` alone would be adopted (the `.env` line becoming the
    stand-in); a `${HMAC_SECRET}` on an included file's command line, or a top-level secret
    `environment: HMAC_SECRET`, still reads it: nothing is adopted, `.env` keeps its value."""
    root = tmp_path / "p"
    root.mkdir()
    value = os.urandom(32).hex()
    (root / ".env").write_text(f"HMAC_SECRET={value}\n")
    compose = (
        "services:\n  sentinel:\n    image: app\n"
        "    environment:\n      TITAN_HMAC_SECRET: ${HMAC_SECRET}\n"
    )
    if reader == "included":
        (root / "inc").mkdir()
        (root / "inc" / "worker.yml").write_text(
            "services:\n  worker:\n    image: app\n    command: [run, '${HMAC_SECRET}']\n"
        )
        compose = "include:\n  - inc/worker.yml\n" + compose
    else:
        compose += "secrets:\n  envsec:\n    environment: HMAC_SECRET\n"
    (root / "compose.yaml").write_text(compose)
    before = snapshot(root)
    result = cli("-C", root, "--json", "adopt")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)["data"]
    assert not data["secrets"]
    (refusal,) = [r for r in data["refused"] if r["names"] == ["HMAC_SECRET"]]
    # an included file is planned from like the main one: its command line refuses the variable
    expected = "into a command line" if reader == "included" else "also read"
    assert expected in refusal["reason"]
    assert snapshot(root) == before
    assert value not in result.stdout + result.stderr


def test_the_global_env_file_is_what_adopt_interpolates_from_and_rewrites(
    cli, tmp_path: Path
) -> None:
    """`--env-file prod.env` (no `.env`): Compose needs it for `${HMAC_SECRET:?}` (without it:
    exit 2, "required variable is missing"), and adopt reads the value there and leaves the
    stand-in there, never in a `.env` it would create."""
    root = tmp_path / "p"
    root.mkdir()
    value = os.urandom(32).hex()
    (root / "prod.env").write_text(f"HMAC_SECRET={value}\n")
    (root / "compose.yaml").write_text(
        "services:\n  sentinel:\n    image: app\n"
        "    environment:\n      TITAN_HMAC_SECRET: ${HMAC_SECRET:?set it}\n"
    )
    result = cli("-C", root, "--env-file", "prod.env", "--json", "adopt", "--dry-run")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert [s["name"] for s in data["secrets"]] == ["titan_hmac_secret"]
    assert data["secrets"][0]["sources"] == ["prod.env:1"]
    assert [(e["file"], e["stand_in"]) for e in data["env_edits"]] == [
        ("prod.env", ["HMAC_SECRET"])
    ]
    result = cli("-C", root, "--env-file", "prod.env", "adopt")
    assert result.exit_code == 0, result.output
    assert (root / "prod.env").read_text().count("HMAC_SECRET=adopted-by-titan-deploy") == 1
    assert (root / "secrets" / "titan_hmac_secret").read_text() == value
    assert not (root / ".env").exists()
    assert value not in result.stdout + result.stderr


def test_an_overlay_compose_rejects_is_not_written_and_the_env_files_stay(
    titan: TitanLike,
) -> None:
    """adopt renders its overlay as `render` does: Compose validates the merged result first;
    rejected, adopt stops (exit 2) before any env file loses a line, and no overlay is written
    (the secrets it copied are kept: a second adopt finds them equal)."""
    from titan_deploy.errors import TitanError
    from titan_deploy.io import compose, composerun
    from titan_deploy.ops.adopt import run_adopt
    from titan_deploy.project import Project

    class Rejecting:
        def __init__(self, real: compose.Compose) -> None:
            self.real = real

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

        def validate(self) -> None:
            raise composerun.ComposeRejected("rejected", argv=["c"], returncode=15, stderr="")

    def factory(*args: object, **kwargs: object) -> Rejecting:
        return Rejecting(compose.for_project(*args, **kwargs))  # type: ignore[arg-type]

    env_files = {p: p.read_bytes() for p in titan.root.rglob("*.env*") if p.is_file()}
    project = Project(project_dir=titan.root, compose_file_options=list(titan.compose))
    with pytest.raises(TitanError) as caught:
        run_adopt(project, compose_for=factory)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2
    assert not (titan.root / "docker-compose.secrets.yml").exists()
    assert {p: p.read_bytes() for p in env_files} == env_files


def test_adopt_asks_compose_for_the_merged_project_once(titan: TitanLike, monkeypatch) -> None:
    """One `config --format json` gives the project name and every service's environment (it
    ran three times: an uninterpolated check, the name, the environments); a run that writes adds
    only render's `config --quiet` of the overlay."""
    from titan_deploy.io import composerun
    from titan_deploy.ops.adopt import run_adopt
    from titan_deploy.project import Project

    calls: list[list[str]] = []
    real = composerun.run

    def counting(argv: list[str], **kwargs):  # type: ignore[no-untyped-def]
        calls.append(argv[argv.index("config") :] if "config" in argv else argv)
        return real(argv, **kwargs)

    monkeypatch.setattr(composerun, "run", counting)

    def project() -> Project:
        return Project(project_dir=titan.root, compose_file_options=["docker-compose.prod.yml"])

    assert run_adopt(project(), dry_run=True).exit_code == 0
    assert calls == [["config", "--format", "json"]]
    calls.clear()
    assert run_adopt(project()).exit_code == 0
    assert calls == [["config", "--format", "json"], ["config", "--quiet"]]
