"""io.knownvalues: which values the CLI's scrubber knows (secrets dir, env files) and when it
re-reads them. No engine, no compose: files in a temp dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from titan_deploy.core.envfile import env_file_values
from titan_deploy.core.redact import MARK
from titan_deploy.io.knownvalues import Scrubber, Sources, env_files, env_values, store_values


def token() -> str:
    return secrets.token_urlsafe(18)


def test_store_values_take_every_file_but_public_ones(tmp_path: Path) -> None:
    store, example = tmp_path / "secrets", tmp_path / "secrets.example"
    store.mkdir()
    example.mkdir()
    values = {name: token().encode() for name in ("a", "a.v3", "stray", "sub/deep")}
    (store / "sub").mkdir()
    for name, value in values.items():
        (store / name).write_bytes(value + b"\n")
    (store / "README.md").write_text("Put binance_api_key here.\n")
    (example / "README.md").write_text("Put binance_api_key here.\n")  # public: identical
    (store / "b").write_text("__CHANGE_ME__\n")  # a placeholder: public
    (store / "loop").symlink_to("loop")  # unreadable: skipped, not fatal
    os.mkfifo(store / "fifo")  # never read (it would block)
    (store / "sub" / "deeper" / "deepest").mkdir(parents=True)
    (store / "sub" / "deeper" / "deepest" / "x").write_text(token())  # 3 levels down: not walked
    found = {v.strip() for v in store_values(store, example)}
    assert found == set(values.values())


def test_env_files_are_found_in_every_compose_form(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "p"
    (project / "sub").mkdir(parents=True)
    (project / "compose.yml").write_text(
        "services:\n"
        "  a: {image: x, env_file: one.env}\n"
        "  b: {image: x, env_file: [two.env, {path: three.env, required: false}]}\n"
        "  c: {image: x, extends: {file: sub/base.yml, service: base}}\n"
        "include:\n"
        "  - sub/inc.yml\n"
        "  - {path: [sub/inc2.yml], env_file: four.env}\n"
    )
    (project / "sub" / "base.yml").write_text("services:\n  base: {env_file: five.env}\n")
    (project / "sub" / "inc.yml").write_text("services:\n  i:\n    env_file: ${SIX}.env\n")
    (project / "sub" / "inc2.yml").write_text("services:\n  j: {env_file: [seven.env]}\n")
    monkeypatch.setenv("SIX", "six")
    monkeypatch.setenv("COMPOSE_ENV_FILES", "eight.env,/abs/nine.env")
    found = set(env_files(project, [project / "compose.yml"]))
    for name in ("one", "two", "three", "four"):
        assert project / f"{name}.env" in found
    for name in ("five", "six", "seven"):
        assert project / "sub" / f"{name}.env" in found
    assert {project / ".env", project / "eight.env", Path("/abs/nine.env")} <= found


def test_a_compose_bomb_does_not_stop_the_scrubber(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    compose = tmp_path / "c.yml"
    compose.write_text("\n".join(lines) + "\nservices: {a: {env_file: x.env}}\n")
    assert env_files(tmp_path, [compose]) == [tmp_path / ".env"]


def test_env_file_values() -> None:
    text = (
        "# comment\n"
        "export A=plain-value-1\n"
        'B="quoted ${x} value"\n'
        "C='single \\ quoted'\n"
        "D=unquoted # a comment\n"
        'E="multi\n'
        'line value"\n'
        "COMPOSE_PROJECT_NAME=titan-production\n"
        "DOCKER_HOST=unix:///var/run/docker.sock\n"
        "F=\n"
    )
    values = env_file_values(text)
    for expected in (
        "plain-value-1",
        '"quoted ${x} value"',
        "quoted ${x} value",
        "single \\ quoted",
        "unquoted",
        'line value"',
    ):
        assert expected in values
    assert not [v for v in values if "titan-production" in v or "docker.sock" in v]


def test_yaml_style_lines_give_their_values() -> None:
    """Compose reads `KEY: value` as KEY=value (compose-go's dotenv grammar): the value alone is
    scrubbed (a compose error quoting it, `Invalid template: "..."`), not only the whole line."""
    value = token()
    values = env_file_values(
        f"API_TOKEN: {value}\nB_KEY:'{value}x'\nCOMPOSE_PROJECT_NAME: titan-production\n"
        "URL=http://host:80/x\n"
    )
    assert value in values and f"{value}x" in values
    assert "http://host:80/x" in values
    assert not [v for v in values if "titan-production" in v]


def test_a_yaml_style_env_value_is_masked_in_output(tmp_path: Path) -> None:
    value = token()
    env = tmp_path / ".env"
    env.write_text(f"API_TOKEN: {value}\n")
    scrub = Scrubber(Sources(stores=[], env_files=[env]))
    assert scrub(f'Invalid template: "{value}"') == f'Invalid template: "{MARK}"'


def test_the_scrubber_rereads_when_a_version_is_written(tmp_path: Path) -> None:
    """A rotation writes `<name>.vN` after the first progress line built the scrubber."""
    store = tmp_path / "secrets"
    store.mkdir()
    old, new = token(), token()
    (store / "k").write_text(old)
    env = tmp_path / ".env"
    scrub = Scrubber(Sources(stores=[store], env_files=[env]))
    assert scrub(f"x {old} {new}") == f"x {MARK} {new}"
    tmp = store / ".k.v2.tmp"
    tmp.write_text(new)
    tmp.rename(store / "k.v2")
    assert scrub(f"x {old} {new}") == f"x {MARK} {MARK}"
    (store / "k").unlink()  # a value once known is never forgotten
    env_value = token()
    env.write_text(f"X={env_value}\n")
    assert scrub(f"{old} {env_value}") == f"{MARK} {MARK}"


def test_env_values_of_missing_files_are_none(tmp_path: Path) -> None:
    assert env_values([tmp_path / "nope.env"]) == []


def test_adopts_stand_in_is_not_a_value_and_the_tools_name_survives(tmp_path: Path) -> None:
    """`V=adopted-by-titan-deploy` (adopt's stand-in) in `.env` is public: the scrubber must not
    turn `.titan-deploy/state.json` into `.[REDACTED]/state.json`; a real value still goes."""
    real = secrets.token_urlsafe(24)
    env = tmp_path / ".env"
    env.write_text(f"HMAC_SECRET=adopted-by-titan-deploy\nAPI_TOKEN={real}\n")
    scrub = Scrubber(Sources(env_files=[env]))
    text = f"see .titan-deploy/state.json; run `titan-deploy up --build`; {real}"
    out = scrub(text)
    assert ".titan-deploy/state.json" in out and "`titan-deploy up --build`" in out
    assert real not in out and MARK in out
