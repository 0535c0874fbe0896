"""Manifest expressiveness (issue 10 item 1): a consumer's `target:`, a secret's `file:`, names as
Compose allows them, `sensitive: false`. Parsing and validation, the rendered overlay, verify's
decisions and the journal's form. Broken spellings are in the corpus
(tests/unit/core/corpus/37_* ...); the real engine is tests/integration/test_manifest_engine.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests.unit.core import test_verify as tv
from titan_deploy.core.leaks import group_by_secret
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.overlay import Mount, ServicePlan, plan_overlay, render_overlay
from titan_deploy.core.rotation.codec import spec_from_dict, spec_to_dict
from titan_deploy.core.valuechecks import Where, content_findings
from titan_deploy.core.verify import verify
from titan_deploy.errors import ConfigError

MANIFEST = """\
version: 1
secrets:
  Gitea_DB_Password:
    kind: password
    file: db/password.txt
    consumers:
      Gitea: GITEA__database__PASSWD__FILE
      postgres: POSTGRES_PASSWORD_FILE
  server_cert:
    kind: pem
    consumers:
      web: {target: /etc/app/server.cert}
      proxy: {target: tls.crt, env: TLS_CERT_FILE}
      worker: {target: server_cert, env: CERT_FILE}
  pg_user:
    sensitive: false
    consumers:
      postgres: POSTGRES_USER_FILE
"""


def manifest():
    return parse_manifest_text(MANIFEST)


# --- names as Compose allows them -----------------------------------------------------------


def test_capitalised_names_and_posix_env_names_parse() -> None:
    spec = manifest().secrets["Gitea_DB_Password"]
    gitea = spec.consumer("Gitea")
    assert gitea is not None and gitea.envs == ("GITEA__database__PASSWD__FILE",)


def test_capitalised_names_render_as_quoted_keys() -> None:
    doc = yaml.safe_load(render_overlay(plan_overlay(manifest())))
    gitea = doc["services"]["Gitea"]
    assert gitea["environment"] == {
        "GITEA__database__PASSWD__FILE": "/run/secrets/Gitea_DB_Password"
    }
    assert doc["secrets"]["Gitea_DB_Password"] == {"file": "./secrets/db/password.txt"}


@pytest.mark.parametrize(
    "name", ["-app", ".app", "_app", "a/b", "a\\b", "a b", "a:b", "a\x01", "a\x7f", "é"]
)
def test_unsafe_names_are_still_refused(name: str) -> None:
    for text in (
        f"version: 1\nsecrets:\n  {name!r}: {{kind: text}}\n",
        f"version: 1\nsecrets:\n  k: {{kind: text, consumers: {{{name!r}: A_FILE}}}}\n",
    ):
        with pytest.raises(ConfigError, match=r"must match \[A-Za-z0-9\]"):
            parse_manifest_text(text.replace("'", '"') if "\\" in name else text)


@pytest.mark.parametrize(
    ("key", "kind"), [("12345", "int"), ("1.5", "float"), ("yes", "true/false")]
)
def test_a_name_yaml_reads_as_another_type_says_to_quote_it(key: str, kind: str) -> None:
    """`12345` matches the name alphabet, so "must match" alone points at the wrong cause."""
    text = f"version: 1\nsecrets:\n  {key}: {{kind: text}}\n"
    with pytest.raises(ConfigError, match=f"YAML reads this as {kind}, not text: quote it"):
        parse_manifest_text(text)


@pytest.mark.parametrize("env", ["1A_FILE", "A-FILE", "A FILE", "A.FILE", "É_FILE", "A\x00"])
def test_env_names_outside_posix_are_refused(env: str) -> None:
    doc = {"version": 1, "secrets": {"k": {"kind": "text", "consumers": {"svc": env}}}}
    with pytest.raises(ConfigError, match=r"env var must match \[A-Za-z_\]"):
        parse_manifest_text(yaml.safe_dump(doc))


# --- target: ----------------------------------------------------------------------------------


def test_target_forms_parse_to_absolute_paths() -> None:
    spec = manifest().secrets["server_cert"]
    web, proxy, worker = (spec.consumer(s) for s in ("web", "proxy", "worker"))
    assert web is not None and web.envs == () and web.target == "/etc/app/server.cert"
    assert proxy is not None and proxy.target == "/run/secrets/tls.crt"
    # the default path is no target at all: the overlay stays what it was
    assert worker is not None and worker.target is None
    assert worker.container_path("server_cert") == "/run/secrets/server_cert"


def test_target_renders_compose_long_syntax_and_points_env_at_it() -> None:
    doc = yaml.safe_load(render_overlay(plan_overlay(manifest())))
    web = doc["services"]["web"]
    assert web["secrets"] == [{"source": "server_cert", "target": "/etc/app/server.cert"}]
    assert "environment" not in web  # no env var: no (null) environment: Compose rejects one
    proxy = doc["services"]["proxy"]
    assert proxy["secrets"] == [{"source": "server_cert", "target": "tls.crt"}]
    assert proxy["environment"] == {"TLS_CERT_FILE": "/run/secrets/tls.crt"}


@pytest.mark.parametrize(
    "target",
    [
        "/etc/../etc/app.cert",
        "/etc/./app.cert",
        "/etc//app.cert",
        "/etc/app/",
        "/",
        "relative/path",
        "/etc/.hidden",
        "/etc/a b",
        "/etc/$HOME",
        "/etc/a\nb",
        "..",
        "",
    ],
)
def test_a_bad_target_is_one_config_error(target: str) -> None:
    doc = {
        "version": 1,
        "secrets": {"k": {"kind": "text", "consumers": {"svc": {"target": target}}}},
    }
    with pytest.raises(ConfigError, match=r"secrets\.k\.consumers\.svc\.target: target must be"):
        parse_manifest_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("target", ["/proc/self/environ", "/sys/kernel/x", "/dev/shm/key"])
def test_a_target_in_the_kernels_filesystems_is_refused(target: str) -> None:
    doc = {
        "version": 1,
        "secrets": {"k": {"kind": "text", "consumers": {"svc": {"target": target}}}},
    }
    with pytest.raises(ConfigError, match=r"target must not be under /proc, /sys, /dev"):
        parse_manifest_text(yaml.safe_dump(doc))


def test_two_secrets_at_one_path_of_a_service_are_refused() -> None:
    text = MANIFEST + (
        "  other:\n    kind: text\n    consumers:\n      web: {target: /etc/app/server.cert}\n"
    )
    with pytest.raises(ConfigError, match="web already mounts secret server_cert at /etc/app"):
        parse_manifest_text(text)


def test_a_consumer_needs_env_or_target() -> None:
    text = "version: 1\nsecrets:\n  k:\n    kind: text\n    consumers:\n      a: {role: x}\n"
    with pytest.raises(ConfigError, match="missing required key `env` \\(or `target`"):
        parse_manifest_text(text)


def _target_facts(path_seen: bytes):
    """test_verify's facts with the api_token mount read at /etc/app/token, no env var."""
    mount = Mount("api_token", "api_token", None, "/etc/app/token", env=None)
    plan = replace(tv.PLAN, services=(ServicePlan("app", (mount, tv.DB)),))
    info = tv.container(
        env={"DB_PASSWORD_FILE": "/run/secrets/db_password"},
        mounts=("/etc/app/token", "/run/secrets/db_password"),
    )
    files = {
        "/etc/app/token": tv.seen("/etc/app/token", path_seen, ino=1001),
        tv.DB.container_path: tv.seen(tv.DB.container_path, tv.OTHER),
    }
    return replace(tv.facts(info, files), plan=plan)


def test_verify_proves_the_file_at_the_target() -> None:
    table, findings = tv.rows(_target_facts(tv.VALUE))
    assert findings == []
    assert table["api_token"]["content"] and table["api_token"]["mounted"]


def test_verify_fails_a_wrong_file_at_the_target() -> None:
    table, findings = tv.rows(_target_facts(tv.OTHER))
    assert not table["api_token"]["content"]
    assert [f.code for f in findings] == ["V002"]
    assert "/etc/app/token differs" in findings[0].message
    tv.assert_no_value(findings, table)


# --- file: -----------------------------------------------------------------------------------


def test_file_names_the_value_in_the_secrets_dir() -> None:
    spec = manifest().secrets["Gitea_DB_Password"]
    assert spec.file_name == "db/password.txt"
    assert spec.path_in(Path("/srv/secrets")) == Path("/srv/secrets/db/password.txt")
    assert manifest().secrets["server_cert"].file_name == "server_cert"


def test_a_rotation_version_of_a_file_secret_sits_beside_its_file() -> None:
    from titan_deploy.core.overlay import Assignment

    state = {"Gitea_DB_Password": {"Gitea": Assignment(version=2)}}
    plan = plan_overlay(manifest(), state)
    assert dict(plan.files)["Gitea_DB_Password_v2"] == "./secrets/db/password.txt.v2"


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../outside", "db/../../x", "db//x", "./db/x", "db/", ".git/config", "db/.x",
     "a b", "$X", ""],
)  # fmt: skip
def test_a_file_outside_the_secrets_dir_is_refused(path: str) -> None:
    doc = {"version": 1, "secrets": {"k": {"kind": "text", "file": path}}}
    with pytest.raises(ConfigError, match=r"secrets\.k\.file: file must be a normalised path"):
        parse_manifest_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  b: {kind: text, file: db/password.txt}\n", "already the file of secret"),
        ("  b: {kind: text, file: db/password.txt.v1}\n", "collides with version 1"),
        ("  db: {kind: text}\n", "is a directory of secret"),
    ],
)
def test_files_of_two_secrets_may_not_clash(extra: str, message: str) -> None:
    text = "version: 1\nsecrets:\n  a: {kind: text, file: db/password.txt}\n" + extra
    with pytest.raises(ConfigError, match=message):
        parse_manifest_text(text)


# --- sensitive: false ------------------------------------------------------------------------


def test_sensitive_false_defaults_to_text() -> None:
    spec = manifest().secrets["pg_user"]
    assert (spec.sensitive, spec.kind, spec.min_length) == (False, "text", 1)
    assert manifest().secrets["server_cert"].sensitive
    assert manifest().insensitive == {"pg_user"}


def test_sensitive_defaults_true_and_kind_stays_required() -> None:
    with pytest.raises(ConfigError, match="missing required key `kind`"):
        parse_manifest_text("version: 1\nsecrets:\n  k: {sensitive: true}\n")


def test_a_configuration_value_is_not_a_leak_in_verify() -> None:
    """POSTGRES_USER's value in the env or argv of a container is configuration, not a leak."""
    mount = Mount("pg_user", "pg_user", None, "pg_user", env="POSTGRES_USER_FILE")
    plan = replace(
        tv.PLAN,
        services=(ServicePlan("app", (tv.MOUNT, tv.DB, mount)),),
        insensitive=frozenset({"pg_user"}),
    )
    user = b"titan_trading_owner"
    info = tv.container(command=("postgres", "-c", f"user={user.decode()}"))
    f = tv.facts(info)
    f = replace(f, plan=plan, values={**f.values, "pg_user": user})
    _, findings = verify(f)
    assert not [x for x in findings if x.code == "V006"]
    # the same value in a sensitive secret is a leak
    _, findings = verify(replace(f, plan=replace(plan, insensitive=frozenset())))
    assert [x.secret for x in findings if x.code == "V006"] == ["pg_user"]


def test_audit_grouping_leaves_configuration_out() -> None:
    values = {"pg_user": b"titan_owner", "pg_user.v2": b"other_owner", "db": b"x" * 20}
    assert group_by_secret(values, ["pg_user", "db"], skip={"pg_user"}) == {"db": [b"x" * 20]}


def test_configuration_is_not_judged_weak_or_a_placeholder(tmp_path: Path) -> None:
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "pg_user").write_bytes(b"titan\n")
    where = Where(shown=Path("secrets"), example_dir=tmp_path / "ex", example_label=None, names=())
    spec = manifest().secrets["pg_user"]
    assert list(content_findings(spec, b"titan", Path("secrets/pg_user"), where)) == []
    sensitive = replace(spec, sensitive=True)
    codes = [f.code for f in content_findings(sensitive, b"titan", Path("x"), where)]
    assert codes == ["S007"]


# --- the journal keeps them ------------------------------------------------------------------


def test_the_journal_round_trips_target_file_and_sensitive() -> None:
    for spec in manifest().secrets.values():
        assert spec_from_dict(spec_to_dict(spec)) == replace(spec, multiline=False)


@pytest.mark.parametrize(
    ("key", "value"),
    [("file", "../x"), ("file", "/abs"), ("target", "rel/x"), ("target", "/a/../b")],
)
def test_the_journal_refuses_a_path_the_manifest_would_refuse(key: str, value: str) -> None:
    d = spec_to_dict(manifest().secrets["server_cert"])
    if key == "file":
        d["file"] = value
    else:
        d["consumers"][0]["target"] = value
    with pytest.raises(ValueError):
        spec_from_dict(d)


def test_lint_and_audit_search_no_configuration_value() -> None:
    from titan_deploy.core.leaks import searched

    values = {"pg_user": b"titan_owner", "pg_user.v2": b"x", "db": b"y", "stray": b"z"}
    assert searched(values, ["pg_user", "db"], {"pg_user"}) == {"db": b"y", "stray": b"z"}


def test_a_rotation_repoints_a_target_consumer_and_keeps_its_path() -> None:
    """Every rotate procedure changes a consumer's source (version), never where it reads."""
    from titan_deploy.core.overlay import Assignment

    state = {"server_cert": {"web": Assignment(version=3), "proxy": Assignment(version=3)}}
    plan = plan_overlay(manifest(), state)
    web = plan.service("web")
    proxy = plan.service("proxy")
    assert web is not None and proxy is not None
    assert [(m.source, m.container_path) for m in web.mounts] == [
        ("server_cert_v3", "/etc/app/server.cert")
    ]
    assert [(m.source, m.container_path, m.envs) for m in proxy.mounts] == [
        ("server_cert_v3", "/run/secrets/tls.crt", ("TLS_CERT_FILE",))
    ]
    assert dict(plan.files)["server_cert_v3"] == "./secrets/server_cert.v3"
