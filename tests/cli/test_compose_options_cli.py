"""Issue 10 item 4 at the CLI: `--profile` and `--env-file` reach every compose call (a compose
stand-in on TITAN_COMPOSE records its argv), the values of an `--env-file` are scrubbed like
`.env`'s, `-p` with capitals is refused by every command before it runs, and the project name is
shown even when a `.env` value contains it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests import canary
from titan_deploy.cli.boundary import default_project_kwargs, scrubber
from titan_deploy.project import Project

RECORDER = """#!/bin/sh
case "$*" in *"version --short"*) echo 2.40.3; exit 0;; esac
echo "$*" >> {log}
{body}
"""


def recorder(tmp_path: Path, body: str = "exit 0") -> tuple[dict[str, str], Path]:
    log = tmp_path / "argv.log"
    script = tmp_path / "fake-compose"
    script.write_text(RECORDER.format(log=log, body=body))
    script.chmod(0o755)
    return {"TITAN_COMPOSE": str(script), "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, log


def test_profile_and_env_file_reach_compose(cli, titan_project: Path, tmp_path: Path) -> None:
    env, log = recorder(tmp_path)
    (titan_project / ".env.prod").write_text("TITAN_TAG=1\n")
    (titan_project / "docker-compose.secrets.yml").unlink()
    result = cli(
        "-C", titan_project, "--profile", "jobs", "--env-file", ".env.prod", "render", env=env
    )
    assert result.exit_code == 0, result.output
    calls = log.read_text().splitlines()
    assert calls, "render must ask compose to validate the merged result"
    wanted = f"--profile jobs --env-file {titan_project / '.env.prod'} config --quiet"
    assert any(call.endswith(wanted) for call in calls), calls


def test_an_env_file_value_is_scrubbed(cli, titan_project: Path, tmp_path: Path) -> None:
    value = "envfile" + secrets.token_urlsafe(18)
    (titan_project / ".env.prod").write_text(f"SOME_SETTING={value}\n")
    env, _ = recorder(tmp_path, f"echo 'invalid interpolation format: \"{value}\"' >&2; exit 15")
    (titan_project / "docker-compose.secrets.yml").unlink()
    for mode in ([], ["--json"], ["-v"]):
        result = cli("-C", titan_project, *mode, "--env-file", ".env.prod", "render", env=env)
        assert result.exit_code == 2, result.output
        assert "compose rejects the merged result" in result.output
        canary.assert_no_canary({"v": value.encode()}, [result.output])


@pytest.mark.parametrize("command", [["render"], ["check-secrets"], ["adopt", "--dry-run"]])
def test_a_project_name_with_capitals_is_refused(cli, titan_project: Path, command) -> None:
    result = cli("-C", titan_project, "-p", "MyTitan", *command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: -p 'MyTitan': invalid project name (compose needs lowercase letters, digits, "
        "`-` and `_`, starting with a letter or a digit): use 'mytitan'"
    ]


def test_a_bad_profile_name_is_refused(cli, titan_project: Path) -> None:
    result = cli("-C", titan_project, "--json", "--profile", "a b", "render")
    assert result.exit_code == 2
    assert "invalid profile name" in json.loads(result.stdout)["error"]


def test_the_project_name_is_shown_though_a_dotenv_value_contains_it(tmp_path: Path) -> None:
    name = "tdtest-publicname"
    password = secrets.token_urlsafe(16)
    (tmp_path / ".env").write_text(
        f"COMPOSE_PROJECT_NAME: {name}\nDATABASE_URL=postgres://u:{password}@db/{name}\n"
    )
    (tmp_path / "docker-compose.prod.yml").write_text("services: {app: {image: x}}\n")
    kwargs = {**default_project_kwargs(), "project_dir": tmp_path}
    project = Project(**kwargs)
    project.__dict__["name"] = name  # as resolved by Compose in this run
    scrub = scrubber(kwargs, project)
    assert (
        scrub(f"project {name}: 0/0 containers running")
        == f"project {name}: 0/0 containers running"
    )
    shown = scrub(f"url postgres://u:{password}@db/{name}")
    assert password not in shown and shown.endswith(name)
    given = scrubber({**kwargs, "project_name": name}, None)
    assert given(f"project {name}") == f"project {name}"
