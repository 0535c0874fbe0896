"""verify/up/status/down on a real engine with a small busybox stack (issue 3, item 8)."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration import stackkit
from tests.integration.stackkit import assert_no_canary

pytestmark = pytest.mark.docker


def rows_by_pair(result) -> dict[tuple[str, str], dict]:
    doc = json.loads(result.stdout)
    return {(r["service"], r["secret"]): r for r in doc["rows"]}


def test_up_then_verify_all_green(stack):
    s = stack()
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 0, up.output
    verify = s.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    rows = rows_by_pair(verify)
    assert set(rows) == {
        ("signer", "db_password"),
        ("signer", "api_token"),
        ("reader", "db_password"),
    }
    assert all(not r["problem"] for r in rows.values())
    status = s.td("--json", "status")
    assert status.returncode == 0
    assert {r["service"]: r["secrets"] for r in json.loads(status.stdout)["rows"]} == {
        "reader": "1/1 verified",
        "signer": "2/2 verified",
    }
    assert_no_canary(s)


def test_host_secret_edited_after_up_is_named(stack):
    s = stack()
    assert s.td("up", "--timeout", "60").returncode == 0
    path = s.secret_path("api_token")
    replacement = path.with_name(".new")
    replacement.write_bytes(b"x" * 40)
    os.chmod(replacement, 0o640)
    os.chown(replacement, -1, 10500)
    os.replace(replacement, path)  # an editor's save: new inode, the container keeps the old one
    s.values["edited"] = b"x" * 40
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    rows = rows_by_pair(verify)
    assert rows[("signer", "api_token")]["content"] is False
    # the archive API re-mounts bind sources, so it may see the new file: then the mtime check
    # (changed after the container started) is what names the pair
    problem = rows[("signer", "api_token")]["problem"]
    assert "differs from the host file" in problem or "changed after the container" in problem
    assert not rows[("signer", "db_password")]["problem"]
    human = s.td("verify")
    assert human.returncode == 1
    assert "signer" in human.stdout and "api_token" in human.stdout
    assert_no_canary(s)


def test_in_place_edit_is_stale(stack):
    s = stack()
    assert s.td("up", "--timeout", "60").returncode == 0
    path = s.secret_path("db_password")
    with open(path, "r+b") as handle:  # same inode: the container sees it, the service does not
        handle.write(b"y" * 40)
        handle.truncate()
    s.values["edited"] = b"y" * 40
    os.utime(path, None)
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    rows = rows_by_pair(verify)
    assert "changed after the container started" in rows[("reader", "db_password")]["problem"]
    assert_no_canary(s)


def test_unreadable_secret_for_non_root_consumer_without_gid(stack):
    s = stack(gid=None)
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 1, up.output
    rows = rows_by_pair(s.td("--json", "verify"))
    reader = rows[("reader", "db_password")]
    assert reader["readable"] is False
    assert "unreadable by its process pid " in reader["problem"]  # each running process
    assert "(sh: uid 1000, gid 1000, groups 1000)" in reader["problem"]
    assert rows[("signer", "db_password")]["readable"] is True
    assert_no_canary(s)


def test_secret_value_in_environment_is_flagged(stack):
    s = stack()
    value = s.values["db_password"].decode()

    def leak(doc):
        doc["services"]["reader"]["environment"] = {"DB_URL": f"postgres://app:{value}@db/app"}

    s.edit_compose(leak)
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 1  # lint compares config values with the secrets dir (L012)
    lint = json.loads(s.td("--json", "lint").stdout)
    assert [(f["code"], f["service"], f["secret"]) for f in lint["findings"]] == [
        ("L012", "reader", "db_password")
    ]
    # deployed anyway, around titan-deploy: verify still catches the value at run time
    deployed = s.compose("up", "--detach", "--wait", "--wait-timeout", "60", "--pull", "never")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    verify = s.td("--json", "verify")
    assert verify.returncode == 1
    doc = json.loads(verify.stdout)
    leaks = [f for f in doc["findings"] if f["code"] == "V006"]
    assert [(f["service"], f["secret"]) for f in leaks] == [("reader", "db_password")]
    assert "env DB_URL" in leaks[0]["message"]
    assert_no_canary(s)


def test_crash_looping_service_fails_up_naming_it(stack):
    s = stack()

    def crash(doc):
        doc["services"]["reader"]["command"] = ["sh", "-c", "sleep 1; exit 3"]
        doc["services"]["reader"]["restart"] = "always"

    s.edit_compose(crash)
    up = s.td("up", "--timeout", "20")
    assert up.returncode == 3, up.output
    error_lines = [line for line in up.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "reader" in error_lines[0]
    assert "Traceback" not in up.output
    assert_no_canary(s)


def test_dead_docker_host_exits_3_with_one_line(stack, tmp_path):
    s = stack()
    dead = f"unix://{tmp_path}/nothing-here.sock"
    for command in ("verify", "status", "up"):
        result = s.td(command, env={"DOCKER_HOST": dead})
        assert result.returncode == 3, (command, result.output)
        assert result.stdout == ""
        # up runs its engine-free stages (check-secrets, render, lint) first: their progress
        # lines ("… stage") come before the one error line
        lines = [x for x in result.stderr.strip().splitlines() if not x.startswith("…")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error:")
        assert "Traceback" not in result.output
    doc = json.loads(s.td("--json", "verify", env={"DOCKER_HOST": dead}).stdout)
    assert (doc["exit_code"] == 3 and "unreachable" in doc["error"]) or "answer" in doc["error"]


def test_down_removes_only_this_stack(stack):
    s = stack()
    assert s.td("up", "--timeout", "60").returncode == 0
    down = s.td("down")
    assert down.returncode == 0, down.output
    ps = s.compose("ps", "--all", "--quiet")
    assert ps.stdout.strip() == ""


# --- the project name as Compose resolves it (issue 11.3, issue 10.4) -----------------------------


def _name_sources(s) -> dict[str, tuple[dict[str, str], str]]:
    """Each source of the name: (files to write, environment) -> the stack's own name."""
    return {
        "dotenv": ({".env": f"COMPOSE_PROJECT_NAME={s.name}\n"}, {}),
        "environment": ({}, {"COMPOSE_PROJECT_NAME": s.name}),
        # from the environment: a `.env` value is scrubbed from output like any env-file value
        "interpolated name:": ({}, {"TD_STACK": s.name}),
    }


@pytest.mark.parametrize("source", ["dotenv", "environment", "interpolated name:"])
def test_up_and_verify_use_the_name_compose_resolves(stack, source, monkeypatch):
    """Without -p: the name from `.env`, the environment or an interpolated `name:` is the one
    compose deploys under, and verify finds the containers there."""
    import subprocess

    from titan_deploy.core.projectname import normalize
    from titan_deploy.project import Project

    s = stack()
    files, env = _name_sources(s)[source]
    for name, text in files.items():
        (s.root / name).write_text(text)
    if source == "interpolated name:":
        path = s.root / "docker-compose.yml"
        path.write_text("name: ${TD_STACK}\n" + path.read_text())
    argv = [*stackkit.TD, "-C", str(s.root)]
    run = {**os.environ, **env}
    try:
        up = subprocess.run([*argv, "up", "--timeout", "60"], env=run, capture_output=True)
        assert up.returncode == 0, up.stderr.decode()
        verify = subprocess.run([*argv, "--json", "verify"], env=run, capture_output=True)
        assert verify.returncode == 0, verify.stdout.decode()
        assert json.loads(verify.stdout)["data"]["project"] == s.name
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        project = Project(project_dir=s.root)
        assert project.name == project.rule_name == s.name  # Compose and the rule agree
    finally:  # a wrong name would have deployed under the directory's name: remove that too
        wrong = normalize(s.root.name)
        subprocess.run(
            ["docker", "compose", "-p", wrong, "down", "--timeout", "2"], capture_output=True
        )


@pytest.mark.parametrize(
    ("dirname", "compose_head", "dotenv", "expected"),
    [
        ("My_Proj.X", "", "", "my_projx"),
        ("d", "name: Titan.Prod\n", "", "titanprod"),
        ("d", 'name: "app-${STAGE:-dev}"\n', "STAGE=blue\n", "app-blue"),
        ("d", 'name: "app-${STAGE:-dev}"\n', "", "app-dev"),
        ("d", "name: from-file\n", "COMPOSE_PROJECT_NAME=from-dotenv\n", "from-dotenv"),
    ],
)
def test_the_pure_rule_agrees_with_compose(
    tmp_path, monkeypatch, dirname, compose_head, dotenv, expected
):
    from titan_deploy.project import Project

    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.delenv("STAGE", raising=False)
    root = tmp_path / dirname
    root.mkdir()
    (root / "secrets.manifest.yml").write_text(
        "version: 1\ncompose_files: [c.yml]\nsecrets:\n  k:\n    kind: password\n"
        "    consumers: {app: K_FILE}\n"
    )
    (root / "c.yml").write_text(compose_head + "services:\n  app: {image: busybox}\n")
    if dotenv:
        (root / ".env").write_text(dotenv)
    project = Project(project_dir=root)
    assert (project.name, project.rule_name) == (expected, expected)
