"""Waivers and the base-file lint findings through the real console script and real Compose:
exit codes 0 / 1 / 2, the waived finding shown with its reason in text, --json and -v, stale
(W001) and expired (W002) waivers, check-secrets waivers, L014/L015 with file:line, and no value
(secret or literal) in any output."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.canary import Canaries
from tests.cli.test_canary import CONSOLE_SCRIPT

MODES = [[], ["--json"], ["-v"]]

MANIFEST = """\
version: 1
compose_files: [docker-compose.yml]
secrets:
  redis_password:
    kind: password
    consumers: {redis: REDIS_PASSWORD_FILE}
  db_password:
    kind: password
    consumers: {db: POSTGRES_PASSWORD_FILE}
"""

COMPOSE = """\
services:
  redis:
    image: redis:7
    command:
      - sh
      - -c
      - read -r P < /run/secrets/redis_password; exec redis-server --requirepass "$$P"
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: {literal}
"""

WAIVE_L011 = """\
  - code: L011
    service: redis
    reason: upstream redis reads requirepass only from argv (OPS-412)
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.values = {
            "redis_password": secrets.token_urlsafe(24).encode(),
            "db_password": secrets.token_urlsafe(24).encode(),
        }
        self.literal = secrets.token_urlsafe(18)  # a literal in the base file, in git
        store = root / "secrets"
        store.mkdir(mode=0o700)
        for name, value in self.values.items():
            path = store / name
            path.write_bytes(value)
            path.chmod(0o600)
        (root / "docker-compose.yml").write_text(COMPOSE.replace("{literal}", self.literal))
        self.waivers("")
        assert self.run("render")[0] == 0
        self.canaries = Canaries({**self.values, "literal": self.literal.encode()})

    def waivers(self, text: str) -> None:
        (self.root / "secrets.manifest.yml").write_text(
            MANIFEST + ("waivers:\n" + text if text else "")
        )

    def run(self, *args: str) -> tuple[int, str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    def every_mode(self, command: str, code: int) -> dict[str, str]:
        """Output per mode; asserts the exit code and that no value leaks in any of them."""
        out = {}
        for mode in MODES:
            rc, stdout, stderr = self.run(*mode, command)
            assert rc == code, (mode, stdout, stderr)
            self.canaries.assert_clean(stdout + stderr, f"{command} {mode}")
            out[" ".join(mode) or "text"] = stdout + stderr
        return out


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def lint_json(project: Project) -> dict:
    rc, stdout, _ = project.run("--json", "lint")
    doc = json.loads(stdout)
    assert doc["exit_code"] == rc
    return doc


def test_without_a_waiver_the_argv_read_fails_and_the_base_literal_is_a_warning(
    project: Project,
) -> None:
    project.every_mode("lint", 1)
    doc = lint_json(project)
    codes = [(f["code"], f["severity"], f["service"]) for f in doc["findings"]]
    assert codes == [("L011", "error", "redis"), ("L015", "warning", "db")]
    literal = doc["findings"][1]
    assert (literal["file"], literal["line"]) == ("docker-compose.yml", 12)


def test_a_waived_finding_passes_and_is_shown_with_its_reason_everywhere(
    project: Project,
) -> None:
    project.waivers(WAIVE_L011)
    outputs = project.every_mode("lint", 0)
    for mode, text in outputs.items():
        if mode == "--json":
            continue
        assert "waived error" in text and "OPS-412" in text, mode
    doc = lint_json(project)
    assert doc["ok"] is True and doc["counts"] == {"error": 0, "warning": 1, "waived": 1}
    waived = doc["findings"][0]
    assert waived["code"] == "L011" and waived["severity"] == "error"
    assert waived["waived"] == {
        "reason": "upstream redis reads requirepass only from argv (OPS-412)",
        "expires": None,
    }
    assert "1 waived" in doc["summary"]


def test_a_stale_waiver_is_a_warning_naming_its_manifest_line(project: Project) -> None:
    project.waivers(WAIVE_L011 + "  - {code: L009, service: db, reason: old image}\n")
    project.every_mode("lint", 0)
    stale = [f for f in lint_json(project)["findings"] if f["code"] == "W001"]
    assert len(stale) == 1 and stale[0]["severity"] == "warning"
    assert (stale[0]["file"], stale[0]["line"]) == ("secrets.manifest.yml", 14)
    assert "L009 for service db" in stale[0]["message"]


def test_an_expired_waiver_no_longer_waives_and_is_reported(project: Project) -> None:
    project.waivers(WAIVE_L011 + "    expires: 2020-01-31\n")
    project.every_mode("lint", 1)
    doc = lint_json(project)
    codes = [(f["code"], f.get("waived")) for f in doc["findings"]]
    assert ("L011", None) in codes and ("W002", None) in codes
    expired = next(f for f in doc["findings"] if f["code"] == "W002")
    assert "expired on 2020-01-31" in expired["message"]


@pytest.mark.parametrize(
    ("waiver", "problem"),
    [
        ("  - {code: L011, service: redis}\n", "waivers[0]: a waiver needs a non-empty `reason`"),
        ("  - {code: V002, service: db, reason: flaky}\n", "V002 cannot be waived"),
        ("  - {code: L012, service: db, reason: fine}\n", "L012 cannot be waived"),
    ],
)
def test_a_bad_waiver_is_exit_2_with_one_line(project: Project, waiver: str, problem: str) -> None:
    project.waivers(waiver)
    for command in ("lint", "check-secrets"):
        rc, stdout, stderr = project.run(command)
        assert rc == 2, (command, stdout, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "secrets.manifest.yml:11:" in lines[0], stderr
        assert problem in lines[0]


def test_check_secrets_findings_can_be_waived_too(project: Project) -> None:
    (project.root / "secrets" / "db_password").chmod(0o644)
    rc, stdout, _ = project.run("--json", "check-secrets")
    assert rc == 1
    assert [f["code"] for f in json.loads(stdout)["findings"]] == ["S009"]
    project.waivers(
        "  - {code: S009, secret: db_password, reason: 'read by a uid-0 sidecar', "
        "expires: 2999-12-31}\n"
    )
    project.every_mode("check-secrets", 0)
    doc = json.loads(project.run("--json", "check-secrets")[1])
    assert doc["findings"][0]["waived"]["expires"] == "2999-12-31"
    # check-secrets does not judge lint waivers (no W001 for them), lint does
    project.waivers(WAIVE_L011)
    (project.root / "secrets" / "db_password").chmod(0o600)
    assert project.run("check-secrets")[0] == 0
    assert json.loads(project.run("--json", "check-secrets")[1])["findings"] == []


def test_an_environment_sourced_managed_secret_names_file_line_and_the_alternative(
    project: Project,
) -> None:
    compose = project.root / "docker-compose.yml"
    compose.write_text(compose.read_text() + "secrets:\n  db_password:\n    environment: DBPW\n")
    rc, stdout, stderr = project.run("lint")
    assert rc == 2, stdout + stderr  # Compose itself refuses file + environment
    assert "L014 docker-compose.yml:15: secret db_password is read from an environment" in stderr
    assert "./secrets/db_password" in stderr
    project.canaries.assert_clean(stdout + stderr, "lint")


def test_an_external_managed_secret_is_l014_with_file_and_line(project: Project) -> None:
    compose = project.root / "docker-compose.yml"
    compose.write_text(compose.read_text() + "secrets:\n  db_password:\n    external: true\n")
    project.every_mode("lint", 1)
    found = [f for f in lint_json(project)["findings"] if f["code"] == "L014"]
    assert [(f["file"], f["line"], f["secret"]) for f in found] == [
        ("docker-compose.yml", 15, "db_password")
    ]


def test_a_value_pasted_into_a_reason_is_never_printed(project: Project) -> None:
    """The reason is the operator's text and is shown in every report: it passes the scrubber
    like every other text (ARCHITECTURE.md invariant 1)."""
    pasted = project.values["redis_password"].decode()
    project.waivers(WAIVE_L011.replace("(OPS-412)", f"(was {pasted})"))
    project.every_mode("lint", 0)
