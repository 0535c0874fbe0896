"""The manifest model (README "The manifest"): which secrets exist, their format and who
consumes them.

Validation is strict and happens before anything reaches a template: unknown keys, wrong types and
names outside the allowed alphabets are configuration errors naming file, line and key path. That
is what makes rendering safe — a name that passed here cannot make a template emit YAML the
manifest did not mean.
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.backend import parse_backend
from titan_deploy.core.backup import is_age_recipient
from titan_deploy.core.manifest_crosschecks import check_across_secrets
from titan_deploy.core.manifest_deploy import parse_deploy
from titan_deploy.core.manifest_keys import (
    AGE_RECIPIENT_RE,
    AUTH_GUARD_KEYS,
    BACKUP_KEYS,
    METRIC_RE,
    METRICS_URL_RE,
    TOP_KEYS,
)

# The model's values are imported from here by most of the package (Manifest, SecretSpec, ...):
# kept as re-exports so that a reader of the manifest needs one import.
from titan_deploy.core.manifest_model import (  # noqa: F401 (re-exported)
    AuthGuard,
    Consumer,
    Manifest,
    ProvisionSpec,
    SecretSpec,
)
from titan_deploy.core.manifest_secret import parse_configs, parse_secret
from titan_deploy.core.manifest_validate import Validator, check, overlay_conflict
from titan_deploy.core.waivers import parse_waivers
from titan_deploy.core.yamlpos import KeyPath, Located, load_file, load_located


def load_manifest(path: Path, display: str | None = None) -> Manifest:
    """Read and validate a manifest file. Raises ConfigError (exit 2) with file:line key path."""
    return parse_manifest(load_file(path, display), path)


def parse_manifest_text(text: str, source: str = "secrets.manifest.yml") -> Manifest:
    return parse_manifest(load_located(text, source), Path(source))


def parse_manifest(doc: Located, path: Path) -> Manifest:
    v = Validator(doc)
    top = v.mapping((), "the manifest must be a mapping with `version` and `secrets`")
    v.known_keys((), top, TOP_KEYS)
    version = v.get((), top, "version", int, required=True)
    if version != 1:
        raise doc.error(("version",), "unsupported version (this titan-deploy reads version 1)")
    compose_files = v.get((), top, "compose_files", list, default=["docker-compose.prod.yml"])
    if not compose_files:
        raise doc.error(("compose_files",), "must list at least one compose file")
    for i, item in enumerate(compose_files):
        v.relpath(("compose_files", i), item)
    overlay = v.relpath(("overlay",), v.get((), top, "overlay", str, "docker-compose.secrets.yml"))
    secrets_dir = v.relpath(("secrets_dir",), v.get((), top, "secrets_dir", str, "secrets"))
    state_dir = v.relpath(("state_dir",), v.get((), top, "state_dir", str, ".titan-deploy"))
    example_dir = v.relpath(("example_dir",), v.get((), top, "example_dir", str, "secrets.example"))
    _check_overlay_path(doc, overlay, compose_files, secrets_dir, state_dir)
    gid = v.get((), top, "secrets_gid", int, None)
    if gid is not None and not 1 <= gid < 2**31:
        raise doc.error(("secrets_gid",), "must be a group id between 1 and 2147483647")
    raw_secrets = v.get((), top, "secrets", dict, required=True)
    if not raw_secrets:
        raise doc.error(("secrets",), "must define at least one secret")
    secrets = {name: parse_secret(v, name, body) for name, body in raw_secrets.items()}
    secrets.update(parse_configs(v, top, secrets))
    check_across_secrets(doc, secrets)
    auth_guard = _auth_guard(v, top)
    return Manifest(
        path=path,
        version=version,
        compose_files=tuple(compose_files),
        overlay=overlay,
        secrets_dir=secrets_dir,
        state_dir=state_dir,
        example_dir=example_dir,
        secrets_gid=gid,
        secrets=secrets,
        auth_guard=auth_guard,
        waivers=parse_waivers(v, top),
        backup_recipients=_backup_recipients(v, top),
        backend=parse_backend(v, top),
        deploy=parse_deploy(v, top),
    )


def _auth_guard(v: Validator, top: dict) -> AuthGuard | None:
    raw = v.get((), top, "auth_guard", dict, None)
    if raw is None:
        return None
    path: KeyPath = ("auth_guard",)
    v.known_keys(path, raw, AUTH_GUARD_KEYS)
    metric = v.get(path, raw, "metric", str, "auth_failures_total")
    check(v.doc, (*path, "metric"), metric, METRIC_RE, "not a Prometheus metric name")
    threshold = v.get(path, raw, "threshold", int, 0)
    if threshold < 0:
        raise v.doc.error((*path, "threshold"), "must be 0 or more")
    table = v.get(path, raw, "endpoints", dict, required=True)
    endpoints = _guard_endpoints(v, (*path, "endpoints"), table)
    counters = []
    more = v.get(path, raw, "counters", dict, {})
    for name in more:
        cpath = (*path, "counters", str(name))
        check(v.doc, cpath, name, METRIC_RE, "not a Prometheus metric name")
        if name == metric:
            raise v.doc.error(cpath, "is auth_guard.metric already")
        table = v.get((*path, "counters"), more, name, dict)
        counters.append((name, _guard_endpoints(v, cpath, table)))
    settle_on = v.get(path, raw, "settle_on", str, None)
    if settle_on is not None:
        check(v.doc, (*path, "settle_on"), settle_on, METRIC_RE, "not a Prometheus metric name")
        if settle_on in (metric, *(name for name, _ in counters)):
            raise v.doc.error(
                (*path, "settle_on"),
                "is a failure counter of the guard: name a counter of traffic served "
                "(e.g. messages_accepted_total)",
            )
    return AuthGuard(metric, threshold, endpoints, tuple(counters), settle_on)


def _guard_endpoints(v: Validator, path: KeyPath, table: dict) -> tuple[tuple[str, str], ...]:
    """(service, URL) of an auth_guard endpoints table: at least one; each URL http://..."""
    endpoints = []
    for service, url in table.items():
        epath = (*path, str(service))
        v.name(epath, service, "service name")
        check(v.doc, epath, url, METRICS_URL_RE, "should be an http://HOST[:PORT]/PATH URL")
        endpoints.append((service, url))
    if not endpoints:
        raise v.doc.error(path, "must name at least one service")
    return tuple(endpoints)


def _backup_recipients(v: Validator, top: dict) -> tuple[str, ...]:
    """`backup: {recipients: [age1...]}`: who can decrypt the break-glass copies (README
    "Break-glass copies"); empty when absent."""
    raw = v.get((), top, "backup", dict, None)
    if raw is None:
        return ()
    path: KeyPath = ("backup",)
    v.known_keys(path, raw, BACKUP_KEYS)
    recipients = v.get(path, raw, "recipients", list, required=True)
    if not recipients:
        raise v.doc.error((*path, "recipients"), "must name at least one age recipient")
    for i, item in enumerate(recipients):
        check(
            v.doc,
            (*path, "recipients", i),
            item,
            AGE_RECIPIENT_RE,
            "should be an age recipient (age1..., from `age-keygen -y KEYFILE`)",
        )
        if not is_age_recipient(item):
            raise v.doc.error(
                (*path, "recipients", i),
                "not an age recipient: its bech32 checksum does not match (a mistyped or "
                "truncated key? copy it again from `age-keygen -y KEYFILE`)",
            )
    return tuple(recipients)


def _check_overlay_path(
    doc: Located,
    overlay: str,
    compose_files: list[str],
    secrets_dir: str,
    state_dir: str,
) -> None:
    problem = overlay_conflict(overlay, compose_files, secrets_dir, state_dir)
    if problem:
        raise doc.error(("overlay",), f"{overlay} {problem}")
