"""The overlay: golden files, `render --check` on the repo, and a hypothesis property that any
manifest that validates renders YAML meaning exactly what the manifest says (README "The
manifest")."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.paths import REPO
from titan_deploy.core.manifest import load_manifest, parse_manifest_text
from titan_deploy.core.manifest_validate import ENV_RE, NAME_RE
from titan_deploy.core.overlay import Assignment, plan_overlay, render_overlay
from titan_deploy.errors import EXIT_CONFIG, ConfigError

GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # UPDATE_GOLDEN=1 pytest ... rewrites them


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; rerun with UPDATE_GOLDEN=1 and review"


# --- golden overlays -----------------------------------------------------------------------------


def test_golden_titan_overlay() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    assert_golden("docker-compose.secrets.yml", render_overlay(plan_overlay(manifest)))


def test_golden_small_overlay() -> None:
    manifest = load_manifest(GOLDEN / "small.manifest.yml")
    assert_golden("small.overlay.yml", render_overlay(plan_overlay(manifest)))


def test_golden_small_overlay_mid_rotation() -> None:
    """HMAC phase 1 (listener keeps the old key as secondary) and a rolling DB password."""
    manifest = load_manifest(GOLDEN / "small.manifest.yml")
    state = {
        "hmac_key": {
            "signer": Assignment(version=2, key_id="k2"),
            "listener": Assignment(version=2, secondary=1, key_id="k2"),
        },
        "db_password": {"db": Assignment(version=3)},
    }
    assert_golden("small.rotation.overlay.yml", render_overlay(plan_overlay(manifest, state)))


def test_render_is_deterministic() -> None:
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    assert render_overlay(plan_overlay(manifest)) == render_overlay(plan_overlay(manifest))


def test_committed_overlay_is_current(cli) -> None:
    """`titan-deploy render --check` on the repository itself (read-only)."""
    result = cli("-C", REPO, "render", "--check")
    assert result.exit_code == 0, result.output
    assert "docker-compose.secrets.yml is up to date" in result.stdout


def test_render_check_reports_drift(titan_project: Path, cli) -> None:
    overlay = titan_project / "docker-compose.secrets.yml"
    overlay.write_text(overlay.read_text().replace('"10500"', '"10501"'))
    before = overlay.read_text()
    result = cli("-C", titan_project, "render", "--check")
    assert result.exit_code == 1
    assert "differs from the manifest: run `titan-deploy render`" in result.stdout
    assert overlay.read_text() == before  # --check never writes
    assert cli("-C", titan_project, "render").exit_code == 0
    assert cli("-C", titan_project, "render", "--check").exit_code == 0


def test_render_refuses_a_consumer_no_compose_file_defines(titan_project: Path, cli) -> None:
    manifest = titan_project / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text().replace("      grafana:", "      grafana-x:"))
    overlay = titan_project / "docker-compose.secrets.yml"
    before = overlay.read_text()
    result = cli("-C", titan_project, "render")
    assert result.exit_code == 2
    assert "consumer service(s) grafana-x not defined in docker-compose.prod.yml" in result.stderr
    assert overlay.read_text() == before


# --- the property: names cannot inject YAML ------------------------------------------------------

YAML_NAMES = [
    "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    "1e3", "0x10", "0o17", "0777", "0b101", "1_000", "1.5", "0.0", "1.0e-3", "12.30",
    "2001-12-14", "0", "1", "a..b", "x.", "9-9", "z_", "a-", "0-0", "y.m", "n-a",
    "True", "NULL", "Yes", "No", "ON", "NaN", "Inf", "Y", "N", "E1", "0X10",
]  # fmt: skip
YAML_ENVS = [
    "NULL", "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "Y", "N", "_", "__", "_1", "NAN",
    "null", "true", "no", "y", "n", "nan", "inf", "True", "Off",
]  # fmt: skip
TRICKY_PATHS = [
    "secrets", "null", "true", "my secrets", "a: b", "#x", "- x", "{a}", "[b]", "&a", "*a", "!x",
    "%x", "@x", "`x`", "'x'", '"x"', "x\\y", "x,y", "? x", "| x", "> x", "~", "a/b/c", "./s",
    "s/", "s//t", "caf\u00e9", "\u5bc6\u94a5", "\u2028x", "x\ty", "\U0001f511keys", "a$b",
    "${HOME}", "\x7f", "x\x85",
]  # fmt: skip

names = st.one_of(
    st.sampled_from(YAML_NAMES),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}", fullmatch=True),
)
envs = st.one_of(
    st.sampled_from(YAML_ENVS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
)
segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00\n"),
    min_size=1,
    max_size=8,
)
paths = st.one_of(
    st.sampled_from(TRICKY_PATHS),
    st.lists(segment, min_size=1, max_size=3).map("/".join),
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest document (as data) whose names come from the allowed alphabets."""
    secret_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    services = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    secrets: dict[str, Any] = {}
    for name in secret_names:
        kind = draw(st.sampled_from(["password", "hex", "api-key", "token", "text"]))
        body: dict[str, Any] = {"kind": kind}
        if kind == "hex":
            body["bytes"] = draw(st.integers(8, 64))
        users = draw(st.lists(st.sampled_from(services), unique=True, max_size=len(services)))
        hmac = len(users) >= 2 and draw(st.booleans())
        consumers: dict[str, Any] = {}
        for i, service in enumerate(users):
            env = draw(envs)
            if hmac:
                consumers[service] = {"env": env, "role": "signer" if i == 0 else "listener"}
            elif draw(st.booleans()):
                consumers[service] = {"env": env}
            else:
                consumers[service] = env
        if hmac:
            body["rotation"] = "hmac"
            body["secondary_env"] = draw(envs)
        else:
            body["rotation"] = draw(st.sampled_from(["restart", "rolling"]))
        body["consumers"] = consumers
        secrets[name] = body
    doc: dict[str, Any] = {"version": 1, "secrets_dir": draw(paths), "secrets": secrets}
    gid = draw(st.one_of(st.none(), st.integers(1, 2**31 - 1)))
    if gid is not None:
        doc["secrets_gid"] = gid
    return doc


def intended(doc: dict[str, Any]) -> dict[str, Any]:
    """What the overlay must mean, computed from the document (independent of the renderer)."""
    root = PurePosixPath(doc["secrets_dir"]).as_posix()
    services: dict[str, Any] = {}
    declared: dict[str, Any] = {}
    for name, body in doc["secrets"].items():
        for service, entry in body["consumers"].items():
            env = entry if isinstance(entry, str) else entry["env"]
            svc = services.setdefault(service, {"secrets": [], "environment": {}})
            svc["secrets"].append({"source": name, "target": name})
            svc["environment"][env] = f"/run/secrets/{name}"
            declared[name] = {"file": f"./{root}/{name}"}
    if "secrets_gid" in doc:
        for svc in services.values():
            svc["group_add"] = [str(doc["secrets_gid"])]
    return {"services": services, "secrets": declared}


def env_clash(doc: dict[str, Any]) -> bool:
    """Two secrets of one service named by the same env var (a manifest error)."""
    seen: dict[str, set[str]] = {}
    for body in doc["secrets"].values():
        for service, entry in body["consumers"].items():
            env = entry if isinstance(entry, str) else entry["env"]
            mine = [env]
            if not isinstance(entry, str) and entry.get("role") == "listener":
                mine.append(body["secondary_env"])
            names = seen.setdefault(service, set())
            if len(set(mine)) < len(mine) or names & set(mine):
                return True
            names.update(mine)
    return False


def path_ok(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        path.isprintable()
        and "$" not in path
        and all(ord(c) <= 0xFFFF for c in path)
        and ".." not in parts
        and not path.startswith("/")
        # the project dir itself: the overlay would be inside the secrets dir (refused)
        and PurePosixPath(path).as_posix() != "."
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
@example(
    {
        "version": 1,
        "secrets_dir": "null",
        "secrets_gid": 1,
        "secrets": {
            "true": {"kind": "hex", "bytes": 8, "consumers": {"null": "NULL", "0x10": "YES"}},
            "1e3": {"kind": "api-key", "consumers": {"on": {"env": "ON"}}},
        },
    }
)
def test_any_valid_manifest_renders_exactly_what_it_means(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=bool(len(doc) % 2))
    doc = yaml.safe_load(text)  # what the file says (YAML folds e.g. a NEL in a path)
    valid = path_ok(doc["secrets_dir"]) and not env_clash(doc)
    event("valid" if valid else "rejected")
    try:
        manifest = parse_manifest_text(text)
    except ConfigError as exc:
        assert not valid, f"valid manifest rejected: {exc}"
        assert exc.exit_code == EXIT_CONFIG
        return
    assert valid, "an invalid manifest was accepted"
    rendered = render_overlay(plan_overlay(manifest))
    assert yaml.safe_load(rendered) == intended(doc)


@pytest.mark.parametrize(
    "name", ["-dash", ".dot", "_under", "a b", "a:b", "a/b", "a\\b", "é", "a\x01"]
)
def test_secret_names_outside_the_alphabet_are_rejected(name: str) -> None:
    assert not NAME_RE.fullmatch(name)
    doc = {"version": 1, "secrets": {name: {"kind": "api-key", "consumers": {"a": "A_FILE"}}}}
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(yaml.safe_dump(doc))
    assert caught.value.exit_code == EXIT_CONFIG
    assert "secret name must match [A-Za-z0-9][A-Za-z0-9_.-]*" in str(caught.value)


@given(st.text(min_size=1, max_size=12).filter(lambda s: not NAME_RE.fullmatch(s)))
@settings(max_examples=150, deadline=None)
def test_any_service_name_outside_the_alphabet_is_rejected(service: str) -> None:
    doc = {"version": 1, "secrets": {"k": {"kind": "api-key", "consumers": {service: "A_FILE"}}}}
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(yaml.safe_dump(doc))
    assert caught.value.exit_code == EXIT_CONFIG
    assert re.match(r"^secrets\.manifest\.yml:\d+: ", str(caught.value))


@given(st.text(min_size=1, max_size=12).filter(lambda s: not ENV_RE.fullmatch(s)))
@settings(max_examples=150, deadline=None)
def test_any_env_var_outside_the_alphabet_is_rejected(env: str) -> None:
    doc = {"version": 1, "secrets": {"k": {"kind": "api-key", "consumers": {"svc": env}}}}
    with pytest.raises(ConfigError) as caught:
        parse_manifest_text(yaml.safe_dump(doc))
    assert caught.value.exit_code == EXIT_CONFIG
    assert "secrets.k.consumers.svc: env var must match [A-Za-z_][A-Za-z0-9_]*" in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        'consumers: {"svc\\ninjected: x": A_FILE}',
        'consumers: {svc: "A_FILE\\n  evil: 1"}',
        "consumers: {'svc\": {}, \"x': A_FILE}",
        "consumers: {svc: 'A_FILE: /etc/shadow'}",
    ],
)
def test_injection_attempts_exit_2_before_rendering(titan_project: Path, cli, bad: str) -> None:
    (titan_project / "m.yml").write_text(
        f"version: 1\nsecrets:\n  k:\n    kind: api-key\n    {bad}\n"
    )
    overlay = titan_project / "docker-compose.secrets.yml"
    before = overlay.read_bytes()
    result = cli("-C", titan_project, "--manifest", "m.yml", "render")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: m.yml:5: secrets.k.consumers")
    assert overlay.read_bytes() == before


def test_yaml_significant_names_survive_the_real_compose(tmp_path: Path, cli) -> None:
    """Names that YAML would read as null/bool/number, a path full of YAML syntax: compose
    (the real v2 binary) reads back exactly the services, secrets and env the manifest means."""
    import json

    services = ["null", "true", "0x10", "on", "1e3"]
    compose = {"services": {name: {"image": "busybox"} for name in services}}
    (tmp_path / "docker-compose.prod.yml").write_text(json.dumps(compose))  # JSON is YAML
    doc = {
        "version": 1,
        "secrets_dir": "my keys/#x: {y}",
        "secrets_gid": 4242,
        "secrets": {
            "yes": {"kind": "api-key", "consumers": {"null": "NULL", "true": "TRUE"}},
            "0777": {"kind": "hex", "bytes": 16, "consumers": {"0x10": "ON", "on": "OFF"}},
            "2001-12-14": {"kind": "text", "consumers": {"1e3": "Y", "null": "N"}},
        },
    }
    (tmp_path / "secrets.manifest.yml").write_text(yaml.safe_dump(doc))
    assert cli("-C", tmp_path, "render").exit_code == 0
    result = cli("-C", tmp_path, "--json", "lint")
    assert result.exit_code == 0, result.output
    from titan_deploy.io import compose as driver

    config = driver.merged_config(
        driver.command_for(tmp_path, ["docker-compose.prod.yml", "docker-compose.secrets.yml"])
    )
    assert sorted(config["services"]) == sorted(services)
    env = config["services"]["null"]["environment"]
    if isinstance(env, list):  # compose prints a list or a mapping depending on the inputs
        env = dict(item.split("=", 1) for item in env)
    assert env == {"N": "/run/secrets/2001-12-14", "NULL": "/run/secrets/yes"}
    assert config["services"]["0x10"]["group_add"] == ["4242"]
    assert config["secrets"]["0777"]["file"] == f"{tmp_path}/my keys/#x: {{y}}/0777"
