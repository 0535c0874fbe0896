"""One owner per fact (issue 11.3): the project name's rule, the Docker timestamp parser, the
container-state label, the encoded forms of a value and the one minimum length."""

from __future__ import annotations

import secrets as pyrandom
from pathlib import Path

import pytest

from titan_deploy.core import encodings, leaks, redact
from titan_deploy.core.containers import ContainerInfo, state_label
from titan_deploy.core.dotenv import MIN_SECRET_LENGTH as DOTENV_MIN
from titan_deploy.core.projectname import interpolate, normalize, resolve
from titan_deploy.core.timespec import parse_timestamp, parse_when
from titan_deploy.errors import ConfigError
from titan_deploy.project import Project

# --- the project name ---------------------------------------------------------------------------

MANIFEST = """version: 1
compose_files: [c.yml]
secrets:
  db_password:
    kind: password
    consumers: {app: DB_PASSWORD_FILE}
"""


def test_normalize_is_composes() -> None:
    assert normalize("My_Proj.X") == "my_projx"
    assert normalize("__-Titan Prod") == "titanprod"
    assert normalize("...") == ""


@pytest.mark.parametrize(
    ("option", "environ", "dotenv", "names", "expected"),
    [
        ("cli", {"COMPOSE_PROJECT_NAME": "env"}, {}, ["file"], "cli"),
        (None, {"COMPOSE_PROJECT_NAME": "env"}, {"COMPOSE_PROJECT_NAME": "dot"}, ["f"], "env"),
        (None, {}, {"COMPOSE_PROJECT_NAME": "dot"}, ["file"], "dot"),
        (None, {}, {}, ["first", None, "Last.One"], "lastone"),
        (None, {"STAGE": "Prod"}, {"STAGE": "dev"}, ["titan-${STAGE}"], "titan-prod"),
        (None, {}, {"STAGE": "dev"}, ["titan-${STAGE:-x}"], "titan-dev"),
        (None, {}, {}, ["titan-${STAGE:-x}"], "titan-x"),
        (None, {}, {}, ["${UNSET}"], "my_dir"),
        (None, {}, {}, [None], "my_dir"),
        (None, {}, {}, ["a$$b"], "ab"),
    ],
)
def test_each_source_of_the_name_in_composes_order(option, environ, dotenv, names, expected):
    assert resolve(option, environ, dotenv, names, "My_Dir") == expected


@pytest.mark.parametrize("bad", ["Titan", "-titan", "ti tan"])
def test_an_invalid_given_name_is_refused_as_compose_refuses_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid project name"):
        resolve(bad, {}, {}, [], "d")
    with pytest.raises(ConfigError, match="COMPOSE_PROJECT_NAME"):
        resolve(None, {"COMPOSE_PROJECT_NAME": bad}, {}, [], "d")


def test_interpolation_forms() -> None:
    env = {"A": "a", "E": ""}
    assert interpolate("$A-${A}-${E:-d}-${E-d}-${N:+x}-${A:+y}-$$", env) == "a-a-d--" + "-y-$"
    with pytest.raises(ConfigError, match="required variable N"):
        interpolate("${N:?set it}", env)


def test_project_rule_name_reads_dotenv_and_the_files_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.delenv("COMPOSE_ENV_FILES", raising=False)
    root = tmp_path / "Some.Dir"
    root.mkdir()
    (root / "secrets.manifest.yml").write_text(MANIFEST)
    (root / "c.yml").write_text("name: app-${STAGE}\nservices: {app: {image: x}}\n")
    assert Project(project_dir=root).rule_name == "app-"
    (root / ".env").write_text("STAGE=blue\n")
    assert Project(project_dir=root).rule_name == "app-blue"
    (root / ".env").write_text("STAGE=blue\nCOMPOSE_PROJECT_NAME=fromdotenv\n")
    assert Project(project_dir=root).rule_name == "fromdotenv"
    (root / "c.yml").write_text("services: {}\n")
    (root / ".env").unlink()
    assert Project(project_dir=root).rule_name == "somedir"
    assert Project(project_dir=root, project_name="given").name == "given"


def test_the_name_is_resolved_once_per_run(tmp_path: Path, monkeypatch) -> None:
    from titan_deploy.io import compose, composerun

    calls: list[object] = []
    monkeypatch.setattr(composerun, "find_compose", lambda env=None: ("compose",))
    monkeypatch.setattr(
        compose, "resolved", lambda command: calls.append(command) or ("x", ["app"])
    )
    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST)
    (tmp_path / "c.yml").write_text("services: {app: {image: x}}\n")
    project = Project(project_dir=tmp_path)
    assert [project.name for _ in range(5)] == ["x"] * 5
    assert project.active_services() == {"app"}  # from the same call
    assert len(calls) == 1


# --- the Docker timestamp parser ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T10:00:00Z", 1795860000.0),
        ("2026-11-28T10:00:00.123456789Z", 1795860000.123456),
        ("2026-11-28T12:00:00.5+02:00", 1795860000.5),
        ("2026-11-28T10:00:00", 1795860000.0),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_one_timestamp_parser(text: str, expected: float | None) -> None:
    assert parse_timestamp(text) == (pytest.approx(expected) if expected else None)


def test_since_takes_the_same_times() -> None:
    assert parse_when("2026-11-28T12:00:00+02:00", 0, "--since") == 1795860000
    assert parse_when("10m", 1000.0, "--since") == 400


# --- the container-state label ------------------------------------------------------------------


def _info(status: str, health: str | None = None, restarting: bool = False) -> ContainerInfo:
    return ContainerInfo("i", "n", "s", 1, status, restarting, 0, 0, health, "", "", ())


def test_one_state_label() -> None:
    assert state_label(_info("running")) == "running"
    assert state_label(_info("running", "unhealthy")) == "unhealthy"
    assert state_label(_info("restarting", "starting", restarting=True)) == "restarting"
    assert state_label(_info("exited")) == "exited"


# --- the encoded forms and the minimum length ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"plainalnum12345",
        b"p@ss w/rd+%&=?#",
        'pässwörd"\\12'.encode(),
        b"\xff\xfe not utf-8",
        pyrandom.token_bytes(24),
    ],
    ids=["alnum", "url-special", "json-special", "not-utf8", "random"],  # stable: xdist
)
def test_the_forms_the_redactor_hides_include_every_form_audit_searches(value: bytes) -> None:
    searched = {form for _, form in leaks.encodings_of(value)}
    assert searched == {form for _, form in encodings.encoded_forms(value)}
    hidden = {form.encode("utf-8") for form in redact.value_forms(value)}
    non_raw = {form for enc, form in encodings.encoded_forms(value) if enc != encodings.RAW}
    assert non_raw <= hidden
    scrub = redact.Redactor([value], include_remembered=False)
    for form in searched:
        text = form.decode("utf-8", "replace")
        assert redact.MARK in scrub(f"x {text} y"), form


def test_audit_finds_a_lowercase_percent_encoded_leak() -> None:
    value = b"s3cr3t/v@lue=+xyz"
    patterns = leaks.build_patterns({"k": [value]})
    line = b"GET /cb?k=s3cr3t%2fv%40lue%3d%2bxyz HTTP/1.1"
    assert leaks.hits_in_line(line, patterns) == [("k", "url")]


def test_one_minimum_length() -> None:
    assert redact.MIN_LENGTH == leaks.MIN_SECRET_LENGTH == DOTENV_MIN == encodings.MIN_LENGTH
    short = b"x" * (encodings.MIN_LENGTH - 1)
    assert not encodings.long_enough(short)
    assert leaks.build_patterns({"s": [short]}).skipped == ("s",)
    assert redact.redact(f"a {short.decode()} b", [short]) == f"a {short.decode()} b"
