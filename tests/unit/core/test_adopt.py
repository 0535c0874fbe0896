"""core/adopt.py (the pure planner) on constructed projects: what is a secret (by name, by value,
a DSN), one secret for one value under several names, which file var each image reads, what is
refused and why, and that the plan never holds a value (only the writer's `Values` does)."""

from __future__ import annotations

import base64
import json
import secrets as pyrandom

import pytest
import yaml

from titan_deploy.core.adopt import AdoptInput, ComposeFile, Values, env_file_paths, plan_adoption
from titan_deploy.core.adopt_render import (
    merged_manifest,
    new_manifest,
    plan_dict,
    plan_rows,
    rewrite_env,
)
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.yamlpos import load_located

APP = "ghcr.io/acme/app:1"


def canary(n: int = 32) -> str:
    return "cnry" + pyrandom.token_urlsafe(n)


def plan_of(
    services: dict, env: str = "", dotenv: str | None = None, top: dict | None = None, **kw
):
    """Plan a project with one compose file and `.env.prod` holding `env`."""
    doc = {"services": services, **(top or {})}
    compose = (ComposeFile("docker-compose.yml", load_located(yaml.safe_dump(doc), "c.yml")),)
    files = dict.fromkeys(env_file_paths(compose), env)
    return plan_adoption(AdoptInput(compose=compose, env_files=files, dotenv=dotenv, **kw))


def svc(image: str = APP, **body) -> dict:
    return {"image": image, "env_file": ".env.prod", **body}


def assert_no_value(plan, values: list[str]) -> None:
    """Neither the plan's repr, its JSON nor its rows hold a value in any common form."""
    texts = [repr(plan), json.dumps(plan_dict(plan)), json.dumps(plan_rows(plan))]
    for value in values:
        raw = value.encode()
        forms = [value, raw.hex(), base64.b64encode(raw).decode(), value[1:-1]]
        for text in texts:
            for form in forms:
                assert form not in text


# --- what is a secret -----


def test_secret_names_are_found_and_settings_are_not() -> None:
    values = {n: canary() for n in ("DB_PASSWORD", "API_SECRET", "BOT_TOKEN", "EXCHANGE_KEY")}
    env = "".join(f"{k}={v}\n" for k, v in values.items())
    env += "TOKEN_TTL=3600\nMAX_TOKENS=4096\nUSE_SECRET=true\nNODE_ENV=production\n"
    env += "ADMIN_PASSWORD=changeme\nEMPTY_PASSWORD=\nX_PASSWORD_FILE=/run/secrets/x\n"
    plan, got = plan_of({"app": svc()}, env)
    assert sorted(s.name for s in plan.secrets) == sorted(n.lower() for n in values)
    assert {s.found_by for s in plan.secrets} == {"name"}
    assert_no_value(plan, list(values.values()))
    assert isinstance(got, Values) and "cnry" not in repr(got) and "cnry" not in str(got)


def test_a_random_value_under_a_plain_name_is_only_possible_until_included() -> None:
    value = pyrandom.token_urlsafe(48)
    plan, _ = plan_of({"app": svc()}, f"SIGNING={value}\n")
    assert not plan.secrets
    assert [r.names for r in plan.possible] == [("SIGNING",)]
    plan, got = plan_of({"app": svc()}, f"SIGNING={value}\n", include=frozenset({"SIGNING"}))
    assert [(s.name, s.found_by) for s in plan.secrets] == [("signing", "value")]
    assert got["signing"] == value.encode()


def test_a_dsn_with_a_password_is_one_text_secret_that_names_what_it_embeds() -> None:
    password = canary()
    dsn = f"postgres://titan:{password}@db:5432/titan"
    plan, got = plan_of({"app": svc()}, f"DB_PASSWORD={password}\nDATABASE_URL='{dsn}'\n")
    by_name = {s.name: s for s in plan.secrets}
    url = by_name["database_url"]
    assert (url.kind, url.found_by) == ("text", "dsn")
    assert any("embeds the value of db_password" in n for n in url.notes)
    assert got["database_url"] == dsn.encode()
    assert_no_value(plan, [password, dsn])


def test_a_dsn_only_images_without_file_support_get_is_refused() -> None:
    dsn = f"redis://:{canary()}@cache:6379/0"
    plan, _ = plan_of({"cache": svc("redis:7")}, f"REDIS_URL={dsn}\n")
    assert not plan.secrets
    assert "no service reads it from a file" in plan.refusals[0].reason


# --- one value, several names -----


def test_one_value_under_two_names_is_one_secret_read_under_both() -> None:
    db = canary()
    env = f'TITAN_DB_PASSWORD={db}\nDB_PASSWORD="{db}"\n'
    plan, got = plan_of({"brain": svc(), "sentinel": svc()}, env)
    (secret,) = plan.secrets
    assert secret.name == "titan_db_password"
    assert [c.envs for c in secret.consumers] == [
        ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    ] * 2
    assert secret.sources == (".env.prod:1", ".env.prod:2")
    assert got == {"titan_db_password": db.encode()}
    (edit,) = plan.edits
    assert edit.spans == ((1, 1), (2, 2))


# --- which file var each image reads -----


def test_official_images_read_their_own_spelling_and_drop_what_they_never_read() -> None:
    pg, gf = canary(), canary()
    env = f"POSTGRES_PASSWORD={pg}\nGF_SECURITY_ADMIN_PASSWORD={gf}\n"
    services = {"db": svc("postgres:16"), "grafana": svc("grafana/grafana:11"), "app": svc()}
    plan, _ = plan_of(services, env)
    consumers = {s.name: {c.service: c.envs for c in s.consumers} for s in plan.secrets}
    assert consumers["postgres_password"] == {
        "db": ("POSTGRES_PASSWORD_FILE",),
        "app": ("POSTGRES_PASSWORD_FILE",),
    }
    assert consumers["gf_security_admin_password"] == {
        "grafana": ("GF_SECURITY_ADMIN_PASSWORD__FILE",),
        "app": ("GF_SECURITY_ADMIN_PASSWORD_FILE",),
    }
    notes = {s.name: s.notes for s in plan.secrets}
    assert any("grafana no longer get" in n for n in notes["postgres_password"])


def test_a_name_of_the_images_own_it_cannot_read_from_a_file_is_refused() -> None:
    plan, _ = plan_of({"db": svc("postgres:16")}, f"POSTGRES_REPLICATION_PASSWORD={canary()}\n")
    assert not plan.secrets
    assert "cannot read POSTGRES_REPLICATION_PASSWORD from a file" in plan.refusals[0].reason


# --- refusals -----


def test_a_password_on_redis_argv_is_refused_pointing_at_config_file_secrets() -> None:
    value = canary()
    services = {
        "redis": {
            "image": "redis:alpine",
            "command": "redis-server --requirepass ${REDIS_PASSWORD}",
        }
    }
    plan, got = plan_of(services, dotenv=f"REDIS_PASSWORD={value}\n")
    assert not plan.secrets and not got
    (refusal,) = plan.refusals
    assert refusal.names == ("REDIS_PASSWORD",) and "`configs:`" in refusal.reason
    assert "command line" in refusal.reason


def test_a_command_expanding_the_var_at_run_time_is_refused_and_the_whole_secret_stays() -> None:
    value = canary()
    nats = svc("nats:2.10", entrypoint=["sh", "-c", "envsubst '$$NATS_PASSWORD' < a > b"])
    plan, _ = plan_of({"nats": nats, "app": svc()}, f"NATS_PASSWORD={value}\n")
    assert not plan.secrets and not plan.edits
    assert "expands $NATS_PASSWORD" in plan.refusals[0].reason
    assert any("all or nothing" in note for note in plan.notes)


def test_environment_literals_are_refused_without_editing_compose() -> None:
    literal = canary()
    services = {"brain": svc(environment={"API_TOKEN": literal})}
    plan, _ = plan_of(services, "")
    reasons = {r.names: r.reason for r in plan.refusals}
    assert "upstream compose file itself" in reasons[("API_TOKEN",)]
    assert not plan.secrets
    assert_no_value(plan, [literal])


# --- `environment: X=${V}` (issue 10, adopt fault 4) -----


@pytest.mark.parametrize(
    "environment",
    [
        ["HEADLESS=true", "TITAN_HMAC_SECRET=${HMAC_SECRET}"],
        {"HEADLESS": "true", "TITAN_HMAC_SECRET": "${HMAC_SECRET:?set it}"},
    ],
    ids=["list", "mapping-required"],
)
def test_environment_interpolation_is_adopted_from_the_dotenv_and_reset_by_the_overlay(
    environment,
) -> None:
    hmac = pyrandom.token_hex(32)
    services = {"sentinel": {"image": APP, "environment": environment}}
    dotenv = f"TAG=1\nHMAC_SECRET={hmac}\n"
    plan, got = plan_of(services, dotenv=dotenv)
    (secret,) = plan.secrets
    assert got[secret.name] == hmac.encode() and secret.sources == (".env:2",)
    (consumer,) = secret.consumers
    assert consumer.envs == ("TITAN_HMAC_SECRET_FILE",)
    assert consumer.resets == ("TITAN_HMAC_SECRET",)
    (edit,) = plan.edits
    assert (edit.file, edit.spans, edit.stand_in) == (".env", ((2, 2),), ("HMAC_SECRET",))
    out = rewrite_env(dotenv, edit)
    assert hmac not in out and "HMAC_SECRET=adopted-by-titan-deploy\n" in out
    again, got = plan_of(services, dotenv=out)  # the stand-in is never adopted again
    assert not again.secrets and not got
    assert_no_value(plan, [hmac])


def test_a_value_built_around_an_interpolation_is_refused() -> None:
    services = {"app": {"image": APP, "environment": {"DB_URL": "pg://u:${DB_PASSWORD}@db/x"}}}
    plan, got = plan_of(services, dotenv=f"DB_PASSWORD={canary()}\n")
    assert not got
    assert "and more text" in plan.refusals[0].reason


def test_external_and_environment_sourced_compose_secrets_are_refused() -> None:
    top = {"secrets": {"a": {"external": True}, "b": {"environment": "B_TOKEN"}}}
    plan, _ = plan_of({"app": svc()}, "", top=top)
    reasons = [r.reason for r in plan.refusals]
    assert any("external" in r for r in reasons) and any(
        "environment: B_TOKEN" in r for r in reasons
    )


def test_a_service_name_the_manifest_cannot_hold_is_refused() -> None:
    plan, _ = plan_of({"_app": svc()}, f"API_TOKEN={canary()}\n")
    assert not plan.secrets and "cannot hold yet" in plan.refusals[0].reason


def test_a_service_name_with_capitals_is_adopted() -> None:
    """Compose allows `[a-zA-Z0-9][a-zA-Z0-9._-]*`: so does the manifest (issue 10 item 1)."""
    plan, _ = plan_of({"App": svc()}, f"API_TOKEN={canary()}\n")
    assert [c.service for s in plan.secrets for c in s.consumers] == ["App"]


def test_an_env_file_outside_the_project_is_refused() -> None:
    compose = (
        ComposeFile(
            "c.yml",
            load_located(yaml.safe_dump({"services": {"a": svc(env_file="../x.env")}}), "c.yml"),
        ),
    )
    plan, _ = plan_adoption(AdoptInput(compose=compose, env_files={"../x.env": None}))
    assert any("outside the project dir" in r.reason for r in plan.refusals)


# --- the manifest -----


def test_kinds_follow_names_and_shapes() -> None:
    env = (
        f"HMAC_SECRET={pyrandom.token_hex(32)}\nSHORT_PASSWORD=Xq7-Lm9#Tz\n"
        f"API_TOKEN={pyrandom.token_urlsafe(24)}\nEXCHANGE_KEY={canary()}\n"
    )
    plan, _ = plan_of({"app": svc()}, env)
    kinds = {s.name: (s.kind, s.bytes) for s in plan.secrets}
    assert kinds == {
        "hmac_secret": ("hex", 32),
        "short_password": ("text", None),  # too short for kind password: still adopted
        "api_token": ("token", None),
        "exchange_key": ("api-key", None),
    }


def test_new_and_merged_manifests_parse_and_keep_what_was_there() -> None:
    plan, _ = plan_of({"brain": svc()}, f"A_PASSWORD={canary()}\nB_PASSWORD={canary()}\n")
    text = new_manifest(
        plan, ["docker-compose.yml"], "docker-compose.secrets.yml", "secrets", 10500
    )
    manifest = parse_manifest_text(text)
    assert sorted(manifest.secrets) == ["a_password", "b_password"]
    assert manifest.secrets_gid == 10500
    existing = (
        "version: 1\n# my comment\nsecrets:\n    old_token:  # keep me\n        kind: token\n"
        "        consumers: {brain: OLD_TOKEN_FILE}\n"
    )
    merged = merged_manifest(existing, plan)
    assert merged is not None and "# keep me" in merged and "# my comment" in merged
    assert sorted(parse_manifest_text(merged).secrets) == ["a_password", "b_password", "old_token"]


def test_an_existing_entry_is_reused_or_refused_on_a_clash() -> None:
    manifest = parse_manifest_text(
        "version: 1\nsecrets:\n  api_token:\n    kind: token\n"
        "    consumers: {brain: API_TOKEN_FILE}\n"
        "  other:\n    kind: token\n    consumers: {brain: X_TOKEN_FILE}\n"
    )
    plan, _ = plan_of({"brain": svc()}, f"API_TOKEN={canary()}\n", manifest=manifest)
    assert [(s.name, s.existing) for s in plan.secrets] == [("api_token", True)]
    assert (
        merged_manifest("version: 1\nsecrets:\n  x: 1\n", plan) == "version: 1\nsecrets:\n  x: 1\n"
    )
    plan, _ = plan_of(
        {"brain": svc(), "sentinel": svc()}, f"API_TOKEN={canary()}\n", manifest=manifest
    )
    assert not plan.secrets and "add that consumer by hand" in plan.refusals[0].reason
    plan, _ = plan_of({"brain": svc()}, f"X_TOKEN={canary()}\n", manifest=manifest)
    assert not plan.secrets and "at secret other" in plan.refusals[0].reason


def test_a_name_the_manifest_gives_a_config_is_refused() -> None:
    """A config's file is rendered from its inputs: a value copied into it would be overwritten
    at the next render (the plan reused the config as an existing secret)."""
    manifest = parse_manifest_text(
        "version: 1\nsecrets:\n  x: {kind: token, consumers: {brain: X_FILE}}\n"
        "configs:\n  api_token:\n    template: t.j2\n    inputs: [x]\n"
        "    consumers: {brain: API_TOKEN_FILE}\n"
    )
    plan, _ = plan_of({"brain": svc()}, f"API_TOKEN={canary()}\n", manifest=manifest)
    assert not plan.secrets
    assert "api_token is a config of the manifest" in plan.refusals[0].reason


# --- env files -----


@pytest.mark.parametrize("newline", ["\n", ""])
def test_rewrite_removes_exactly_the_adopted_lines(newline: str) -> None:
    value = canary()
    env = (
        f"# top\nA=1\nDB_PASSWORD=\"{value}\"\nexport API_TOKEN='{canary()}'\n"
        f'MULTI_SECRET="{canary()}\n{canary()}"\nB=2{newline}'
    )
    plan, _ = plan_of({"app": svc()}, env)
    (edit,) = plan.edits
    out = rewrite_env(env, edit)
    assert out.splitlines()[:2] == ["# top", "A=1"]
    assert out.endswith("B=2" + newline)
    assert "cnry" not in out
    assert out.count("moved to a secret file by titan-deploy adopt") == 3


def test_an_adopted_value_leaves_the_dotenv_when_nothing_interpolates_it() -> None:
    db = canary()
    plan, _ = plan_of(
        {"app": svc(environment={"MODE": "${MODE}"})},
        f"DB_PASSWORD={db}\n",
        dotenv=f"MODE=prod\nPOSTGRES_PASSWORD={db}\n",
    )
    assert [s.name for s in plan.secrets] == ["db_password"]
    edits = {e.file: e.spans for e in plan.edits}
    assert edits == {".env": ((2, 2),), ".env.prod": ((1, 1),)}


# --- values exactly as Compose reads them (issue 10, adopt fault 1) -----


def test_a_raw_env_file_value_is_taken_byte_for_byte_as_compose_reads_it() -> None:
    """`format: raw` (the docker CLI's --env-file parser): quotes, backslashes, `$`, `#` and
    trailing spaces are part of the value; only leading whitespace and one trailing CR go."""
    core = canary(20)
    value = f"\"{core}\\n$HOME 'x' # not a comment  "
    env = f"  API_TOKEN={value}\r\n# c\nOTHER_TOKEN={canary()}\n"
    body = {"image": APP, "env_file": [{"path": ".env.prod", "format": "raw"}]}
    plan, got = plan_of({"app": body}, env)
    assert got["api_token"] == value.encode()
    assert got["other_token"].startswith(b"cnry")
    (edit,) = plan.edits
    assert edit.spans == ((1, 1), (3, 3))


def test_a_file_read_raw_by_one_service_and_dotenv_by_another_is_refused() -> None:
    raw = {"image": APP, "env_file": [{"path": ".env.prod", "format": "raw"}]}
    plan, got = plan_of({"a": raw, "b": svc()}, f'API_TOKEN="{canary()}"\n')
    assert any("format: raw" in r.reason for r in plan.refusals)
    assert not got


# --- Compose's merge tags (issue 10, adopt fault 2) -----


def plan_files(docs: list[str], env_files: dict[str, str], **kw):
    compose = tuple(
        ComposeFile(f"c{i}.yml", load_located(text, f"c{i}.yml")) for i, text in enumerate(docs)
    )
    return plan_adoption(AdoptInput(compose=compose, env_files=env_files, **kw))


BASE = f"services:\n  app:\n    image: {APP}\n    env_file: [old.env]\n"


def test_a_reset_env_file_is_not_adopted_from_and_an_override_replaces_the_base_list() -> None:
    old, new = canary(), canary()
    files = {"old.env": f"OLD_TOKEN={old}\n", "new.env": f"NEW_TOKEN={new}\n"}
    reset = "services:\n  app:\n    env_file: !reset []\n"
    plan, got = plan_files([BASE, reset], files)
    assert not plan.secrets and not got and not plan.edits
    override = "services:\n  app:\n    env_file: !override [new.env]\n"
    plan, got = plan_files([BASE, override], files)
    assert [s.name for s in plan.secrets] == ["new_token"]
    assert [e.file for e in plan.edits] == ["new.env"]
    appended = "services:\n  app:\n    env_file: [new.env]\n"
    plan, _ = plan_files([BASE, appended], files)
    assert sorted(s.name for s in plan.secrets) == ["new_token", "old_token"]
    from titan_deploy.core.adopt import env_file_paths

    compose = tuple(ComposeFile(f"c{i}", load_located(t, "c")) for i, t in enumerate([BASE, reset]))
    assert env_file_paths(compose) == []


def test_reset_and_override_on_environment_are_honoured() -> None:
    literal = canary()
    base = BASE + f"    environment:\n      API_TOKEN: {literal}\n      MODE: x\n"
    files = {"old.env": ""}
    plan, _ = plan_files([base], files)
    assert any("upstream compose file itself" in r.reason for r in plan.refusals)
    for override in (
        "services:\n  app:\n    environment:\n      API_TOKEN: !reset null\n",
        "services:\n  app:\n    environment: !reset {}\n",
        "services:\n  app:\n    environment: !override {MODE: y}\n",
    ):
        plan, got = plan_files([base, override], files)
        assert not plan.refusals and not got, override


# --- only values check-secrets accepts (issue 10, adopt fault 3) -----


@pytest.mark.parametrize(
    "value, expect",
    [
        (f"{'x' * 8}\x00{pyrandom.token_hex(8)}", "S004"),  # a NUL byte
        (pyrandom.token_urlsafe(400_000), "S008"),  # over Docker's secret limit
        ("a" * 30, "S023"),  # a weak password (kind password: an error)
    ],
    ids=["nul", "too-large", "weak"],
)
def test_a_value_check_secrets_would_reject_is_a_finding_not_a_file(
    value: str, expect: str
) -> None:
    plan, got = plan_of({"app": svc()}, f"API_PASSWORD={value}\nOK_TOKEN={canary()}\n")
    assert [s.name for s in plan.secrets] == ["ok_token"]
    assert "api_password" not in got
    (refusal,) = plan.refusals
    assert refusal.code == "A006" and expect in refusal.reason
    assert [e.spans for e in plan.edits] == [((2, 2),)]  # its line stays
    assert_no_value(plan, [value])


def test_a_value_invalid_for_the_manifests_kind_is_not_adopted() -> None:
    manifest = parse_manifest_text(
        "version: 1\nsecrets:\n  api_token:\n    kind: hex\n    bytes: 32\n"
        "    consumers: {app: API_TOKEN_FILE}\n"
    )
    plan, got = plan_of({"app": svc()}, f"API_TOKEN={canary()}\n", manifest=manifest)
    assert not got and "S006" in plan.refusals[0].reason
    assert plan.refusals[0].code == "A006"


def test_a_value_equal_to_the_project_name_is_weak() -> None:
    value = "Titan-Trading-Stack-Prod-2024"
    plan, got = plan_of({"app": svc()}, f"API_TOKEN={value}\n", project_name=value.lower())
    assert not got and "S023" in plan.refusals[0].reason


def test_env_file_paths_of_an_included_file_are_taken_from_its_own_dir() -> None:
    """Compose resolves an included file's `env_file:` from that file's dir (issue 10 item 4)."""
    doc = load_located(yaml.safe_dump({"services": {"a": svc(env_file="./app.env")}}), "c.yml")
    outside = load_located(yaml.safe_dump({"services": {"b": svc(env_file="w.env")}}), "o.yml")
    compose = (ComposeFile("sub/c.yml", doc, "sub"), ComposeFile("../o/o.yml", outside, "../o"))
    assert env_file_paths(compose) == ["sub/app.env", "../o/w.env"]
    token = canary()
    plan, _ = plan_adoption(
        AdoptInput(
            compose=compose, env_files={"sub/app.env": None, "../o/w.env": f"X_TOKEN={token}\n"}
        )
    )
    refused = [r for r in plan.refusals if r.names == ("X_TOKEN",)]
    assert refused and "by hand" in refused[0].reason


# --- a `.env` variable something else reads too (all or nothing) -----

SENTINEL = {"sentinel": {"image": APP, "environment": {"TITAN_HMAC_SECRET": "${HMAC_SECRET}"}}}


def _included(doc: dict) -> tuple[ComposeFile, ...]:
    return (ComposeFile("extra/inc.yml", load_located(yaml.safe_dump(doc), "inc.yml")),)


@pytest.mark.parametrize(
    ("top", "included", "env", "where"),
    [
        ({"secrets": {"envsec": {"environment": "HMAC_SECRET"}}}, None, "", "envsec"),
        ({"configs": {"c": {"content": "k=${HMAC_SECRET}"}}}, None, "", "configs.c.content"),
        (None, {"services": {"w": {"image": APP, "command": ["x", "${HMAC_SECRET}"]}}}, "", "inc"),
        (None, {"services": {"w": {"image": APP, "environment": ["HMAC_SECRET"]}}}, "", "inc"),
        (None, {"secrets": {"s": {"environment": "HMAC_SECRET"}}}, "", "secrets.s.environment"),
        (None, None, "SIGNER_KEY=${HMAC_SECRET}\n", ".env.prod:1"),
    ],
    ids=[
        "top-secret-env",
        "top-configs",
        "included-argv",
        "included-passthrough",
        "included-secret",
        "env-file",
    ],
)
def test_a_dotenv_variable_read_anywhere_else_is_refused_all_or_nothing(
    top, included, env, where
) -> None:
    """The main file's own uses are refused use by use; every other reader of the `.env`
    variable refuses it too: adopt would put the stand-in (or nothing) under that reader."""
    hmac = pyrandom.token_hex(32)
    dotenv = f"HMAC_SECRET={hmac}\n"
    services = {
        **SENTINEL,
        **({"other": {"image": APP, "env_file": ".env.prod"}} if env else {}),
    }
    extra = {"included": _included(included)} if included else {}
    if env:  # Compose gives `other` the interpolated value: adopt refuses its own reading
        extra["compose_env"] = {"other": {"SIGNER_KEY": hmac}, "sentinel": {}}
    plan, got = plan_of(services, env, dotenv=dotenv, top=top, **extra)
    assert not plan.secrets and not got and not plan.edits
    refusal = next(r for r in plan.refusals if r.names == ("HMAC_SECRET",))
    assert where in refusal.reason and "also read" in refusal.reason
    assert any("all or nothing" in n for n in plan.notes)
    assert_no_value(plan, [hmac])


def test_an_x_extension_anchor_is_no_other_reader() -> None:
    """`x-env: &env {X: ${V}}` reaches services only through the alias: their use is the one."""
    hmac = pyrandom.token_hex(32)
    text = (
        "x-env: &env\n  TITAN_HMAC_SECRET: ${HMAC_SECRET}\n"
        "services:\n  sentinel:\n    image: app\n    environment: *env\n"
    )
    compose = (ComposeFile("docker-compose.yml", load_located(text, "c.yml")),)
    plan, got = plan_adoption(AdoptInput(compose=compose, dotenv=f"HMAC_SECRET={hmac}\n"))
    assert [s.name for s in plan.secrets] == ["titan_hmac_secret"] and got


def test_a_kind_the_value_fails_says_so_in_a_sentence() -> None:
    """A004's note: `kind text: the value is not a valid token (contains ...)`."""
    from titan_deploy.core.adopt_rules import derive_kind

    kind, _, _, notes = derive_kind(["API_TOKEN"], "short", "name")
    assert kind == "text" and len(notes) == 1
    assert notes[0].startswith("kind text: the value is not a valid token (too short")
