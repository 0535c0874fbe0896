"""The manifest model (README "The manifest"): which secrets exist, their format and who
consumes them.

Validation is strict and happens before anything reaches a template: unknown keys, wrong types and
names outside the allowed alphabets are configuration errors naming file, line and key path. That
is what makes rendering safe — a name that passed here cannot make a template emit YAML the
manifest did not mean.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from titan_deploy.core.backend import parse_backend
from titan_deploy.core.backup import is_age_recipient
from titan_deploy.core.limits import MAX_SECRET_BYTES
from titan_deploy.core.manifest_crosschecks import check_across_secrets
from titan_deploy.core.manifest_deploy import DEPLOY_KEYS, parse_deploy  # noqa: F401 (schema)
from titan_deploy.core.manifest_model import (
    AuthGuard,
    Consumer,
    Manifest,
    ProvisionSpec,
    Reload,
    SecretSpec,
)
from titan_deploy.core.manifest_reload import check_reload, parse_probe, parse_proof, parse_reload
from titan_deploy.core.manifest_validate import (  # noqa: F401 (NAME_RE, ENV_RE re-exported)
    ENV_RE,
    MAX_NAME,
    NAME_RE,
    Validator,
    check,
    overlay_conflict,
)
from titan_deploy.core.waivers import parse_waivers
from titan_deploy.core.yamlpos import KeyPath, Located, load_file, load_located

KINDS = ("password", "hex", "token", "api-key", "text", "pem")
MULTILINE_KINDS = ("text",)  # `multiline: true` allowed; pem is always multi-line
ROTATIONS = ("hmac", "rolling", "restart")
ROLES = ("signer", "listener")
GENERATABLE = ("password", "hex", "token")

# Per-kind length defaults; api-key bounds are loose on purpose: a check must never reject a real
# exchange key (Bybit keys are 18 characters, some providers' secrets are several hundred).
# text and pem may use all of Docker's 500 KiB secret limit (core.limits): one constant everywhere
DEFAULT_MIN = {"password": 16, "hex": 1, "token": 16, "api-key": 8, "text": 1, "pem": 1}
DEFAULT_MAX = {
    "password": 4096,
    "hex": 4096,
    "token": 4096,
    "api-key": 4096,
    "text": MAX_SECRET_BYTES,
    "pem": MAX_SECRET_BYTES,
}

TOP_KEYS = {
    "version",
    "compose_files",
    "overlay",
    "secrets_dir",
    "example_dir",
    "secrets_gid",
    "state_dir",
    "secrets",
    "auth_guard",
    "waivers",
    "backup",
    "backend",  # a secrets manager (core/backend.py, README "Secrets managers")
    "deploy",
    "configs",
}
# a config file rendered from a template and secrets (README "Config files")
CONFIG_KEYS = {"description", "template", "inputs", "file", "consumers", "max_age_days"}
SECRET_KEYS = {
    "description",
    "kind",
    "min_length",
    "max_length",
    "bytes",
    "pattern",
    "multiline",
    "generate",
    "rotation",
    "verify_log",
    "group",
    "secondary_env",
    "key_id_env",
    "finish_after_hours",
    "max_age_days",
    "provision",
    "consumers",
    "file",
    "sensitive",
    "probe",
}
CONSUMER_KEYS = {"env", "role", "target", "reload", "proof"}
PROVISION_KEYS = {"kind", "service", "role"}
PROVISION_KINDS = ("postgres",)
AUTH_GUARD_KEYS = {"metric", "threshold", "endpoints"}
BACKUP_KEYS = {"recipients"}
# an age X25519 recipient (public key): `age1` + 58 bech32 characters (README "Break-glass copies")
AGE_RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
PG_ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# The URL a container serves its metrics on, fetched from INSIDE it (docker exec wget): plain
# http, a host, an optional port and a path; nothing a shell or wget could read as an option.
METRICS_URL_RE = re.compile(r"^http://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")


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
    secrets = {name: _secret(v, name, body) for name, body in raw_secrets.items()}
    secrets.update(_configs(v, top, secrets))
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


def _secret(v: Validator, name: Any, body: Any) -> SecretSpec:
    path: KeyPath = ("secrets", str(name))
    v.name(path, name, "secret name")
    if not isinstance(body, dict):
        raise v.doc.error(path, "must be a mapping (kind, consumers, ...)")
    v.known_keys(path, body, SECRET_KEYS)
    sensitive = v.get(path, body, "sensitive", bool, True)
    # configuration (sensitive: false) is text unless said otherwise
    kind = v.choice(path, body, "kind", KINDS, required=sensitive, default="text")
    rotation = v.choice(path, body, "rotation", ROTATIONS, default="restart")
    size = v.get(path, body, "bytes", int, None)
    if kind == "hex" and size is None:
        raise v.doc.error((*path, "kind"), "kind hex needs `bytes` (e.g. bytes: 32)")
    if size is not None and (kind != "hex" or not 8 <= size <= 1024):
        raise v.doc.error((*path, "bytes"), "only for kind hex, between 8 and 1024")
    min_length = v.get(path, body, "min_length", int, DEFAULT_MIN[kind])
    max_length = v.get(path, body, "max_length", int, DEFAULT_MAX[kind])
    if not 1 <= min_length <= max_length <= MAX_SECRET_BYTES:
        raise v.doc.error(
            (*path, "min_length"),
            f"need 1 <= min_length <= max_length <= {MAX_SECRET_BYTES} "
            "(Docker's 500 KiB secret limit)",
        )
    generate = v.get(path, body, "generate", bool, False)
    if generate and kind not in GENERATABLE:
        raise v.doc.error((*path, "generate"), f"kind {kind} cannot be generated")
    multiline = v.get(path, body, "multiline", bool, False)
    if multiline and kind not in MULTILINE_KINDS:
        raise v.doc.error((*path, "multiline"), "only for kind text (kind pem is multi-line)")
    consumers = _consumers(v, path, body, rotation, name)
    spec = SecretSpec(
        name=name,
        kind=kind,
        consumers=consumers,
        description=v.get(path, body, "description", str, ""),
        min_length=min_length,
        max_length=max_length,
        bytes=size,
        pattern=v.regex(path, body, "pattern"),
        generate=generate,
        rotation=rotation,
        verify_log=v.regex(path, body, "verify_log"),
        group=v.optional_name(path, body, "group"),
        secondary_env=v.optional_env(path, body, "secondary_env"),
        key_id_env=v.optional_env(path, body, "key_id_env"),
        finish_after_hours=_hours(v, path, body),
        max_age_days=_max_age(v, path, body),
        provision=_provision(v, path, body, consumers),
        multiline=multiline,
        file=v.secret_file((*path, "file"), v.get(path, body, "file", str, None)),
        sensitive=sensitive,
        probe=parse_probe(v, path, body),
    )
    _check_rotation(v, path, spec)
    return spec


def _configs(v: Validator, top: dict, secrets: dict[str, SecretSpec]) -> dict[str, SecretSpec]:
    """`configs:` (README "Config files"): each a file rendered into the secrets dir from a
    sandboxed Jinja `template` (relative to the project dir) and the values of its `inputs`
    (secrets of this manifest), mounted like a secret. Kept as SecretSpecs with a template:
    text, multi-line, never searched for as a whole (its inputs are), rotation restart (a new
    version whenever an input rotates)."""
    out: dict[str, SecretSpec] = {}
    for name, body in v.get((), top, "configs", dict, {}).items():
        path: KeyPath = ("configs", str(name))
        v.name(path, name, "config name")
        if name in secrets:
            raise v.doc.error(path, f"{name} is already a secret: a config needs its own name")
        if not isinstance(body, dict):
            raise v.doc.error(path, "must be a mapping (template, inputs, consumers, ...)")
        v.known_keys(path, body, CONFIG_KEYS)
        template = v.relpath((*path, "template"), v.get(path, body, "template", str, required=True))
        inputs = v.get(path, body, "inputs", list, required=True)
        if not inputs:
            raise v.doc.error((*path, "inputs"), "must name at least one secret")
        for i, item in enumerate(inputs):
            where = (*path, "inputs", i)
            spec = secrets.get(item) if isinstance(item, str) else None
            if spec is None:
                raise v.doc.error(where, "must name a secret of this manifest")
            if spec.rotation == "hmac" or inputs.index(item) != i:
                raise v.doc.error(where, f"{item}: listed twice, or an hmac secret (two keys)")
        out[name] = SecretSpec(
            name=name,
            kind="text",
            consumers=_consumers(v, path, body, "restart", name),
            description=v.get(path, body, "description", str, ""),
            max_length=MAX_SECRET_BYTES,
            multiline=True,
            file=v.secret_file((*path, "file"), v.get(path, body, "file", str, None)),
            max_age_days=_max_age(v, path, body),
            sensitive=False,
            template=template,
            inputs=tuple(inputs),
        )
    return out


def _hours(v: Validator, path: KeyPath, body: dict) -> float:
    """`finish_after_hours`: a finite number of hours, 0 to 87600 (ten years); `.nan`, `.inf`
    or a negative value would make phase 2 never or always allowed."""
    hours = float(v.get(path, body, "finish_after_hours", (int, float), 24))
    if not math.isfinite(hours) or not 0 <= hours <= 87600:
        raise v.doc.error((*path, "finish_after_hours"), "must be a number of hours, 0 to 87600")
    return hours


def _consumers(
    v: Validator, path: KeyPath, body: dict, rotation: str, secret: str
) -> tuple[Consumer, ...]:
    raw = v.get(path, body, "consumers", dict, {})
    out = []
    for service, entry in raw.items():
        cpath = (*path, "consumers", str(service))
        v.name(cpath, service, "service name")
        target = None
        reload, proof = Reload(), None
        if isinstance(entry, dict):
            v.known_keys(cpath, entry, CONSUMER_KEYS)
            raw_env = v.get(cpath, entry, "env", (str, list), None)
            raw_target = v.get(cpath, entry, "target", str, None)
            if raw_env is None and raw_target is None:
                raise v.doc.error(
                    cpath, "missing required key `env` (or `target`: the path the service reads)"
                )
            envs = () if raw_env is None else _env_names(v, (*cpath, "env"), raw_env)
            if raw_target is not None:
                target = v.container_path((*cpath, "target"), raw_target, secret)
            role = v.choice(cpath, entry, "role", ROLES, default=None)
            reload, proof = parse_reload(v, cpath, entry), parse_proof(v, cpath, entry)
            check_reload(v, cpath, reload, proof)
        elif isinstance(entry, (str, list)):
            envs, role = _env_names(v, cpath, entry), None
        else:
            raise v.doc.error(
                cpath,
                "must be an env var name, a list of them, or {env: NAME, target: PATH, "
                "role: signer|listener}",
            )
        if rotation == "hmac" and role is None:
            raise v.doc.error(cpath, "consumers of an hmac secret need role: signer or listener")
        primary = envs[0] if envs else None
        out.append(
            Consumer(
                service,
                env=primary,
                role=role,
                also=envs[1:],
                target=target,
                reload=reload,
                proof=proof,
            )
        )
    return tuple(out)


def _env_names(v: Validator, path: KeyPath, raw: Any) -> tuple[str, ...]:
    """A consumer's env var names: one name, or a non-empty list of distinct names (one service
    reading the secret under several names); each validated as an env var name."""
    names = [raw] if isinstance(raw, str) else raw
    if not names:
        raise v.doc.error(path, "must name at least one env var")
    for i, name in enumerate(names):
        where = path if isinstance(raw, str) else (*path, i)
        if not isinstance(name, str):
            raise v.doc.error(where, "must be an env var name")
        v.env(where, name)
        if names.index(name) != i:
            raise v.doc.error(where, f"{name} is listed twice")
    return tuple(names)


def _provision(
    v: Validator, path: KeyPath, body: dict, consumers: tuple[Consumer, ...]
) -> ProvisionSpec | None:
    raw = v.get(path, body, "provision", dict, None)
    if raw is None:
        return None
    ppath = (*path, "provision")
    v.known_keys(ppath, raw, PROVISION_KEYS)
    kind = v.choice(ppath, raw, "kind", PROVISION_KINDS, required=True)
    service = v.name(
        (*ppath, "service"), v.get(ppath, raw, "service", str, required=True), "service"
    )
    if service not in {c.service for c in consumers}:
        raise v.doc.error((*ppath, "service"), "must be one of this secret's consumers")
    role = v.get(ppath, raw, "role", str, None)
    if role is not None:
        check(v.doc, (*ppath, "role"), role, PG_ROLE_RE, "role must match [A-Za-z_][A-Za-z0-9_]*")
    return ProvisionSpec(kind=kind, service=service, role=role)


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
    endpoints = []
    for service, url in v.get(path, raw, "endpoints", dict, required=True).items():
        epath = (*path, "endpoints", str(service))
        v.name(epath, service, "service name")
        check(v.doc, epath, url, METRICS_URL_RE, "should be an http://HOST[:PORT]/PATH URL")
        endpoints.append((service, url))
    if not endpoints:
        raise v.doc.error((*path, "endpoints"), "must name at least one service")
    return AuthGuard(metric=metric, threshold=threshold, endpoints=tuple(endpoints))


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


def _check_rotation(v: Validator, path: KeyPath, spec: SecretSpec) -> None:
    if spec.rotation == "hmac":
        roles = {c.role for c in spec.consumers}
        if roles != {"signer", "listener"}:
            raise v.doc.error((*path, "consumers"), "hmac rotation needs a signer and a listener")
        if not spec.secondary_env:
            raise v.doc.error((*path, "rotation"), "hmac rotation needs `secondary_env`")
    else:
        for key in ("secondary_env", "key_id_env"):
            if getattr(spec, key):
                raise v.doc.error((*path, key), "only for rotation: hmac")
        if any(c.role for c in spec.consumers):
            raise v.doc.error((*path, "consumers"), "role is only for rotation: hmac")
    if spec.probe and spec.rotation != "restart":
        raise v.doc.error((*path, "probe"), "only for rotation: restart (else a consumer's proof)")
    if spec.provision and spec.rotation != "rolling":
        raise v.doc.error((*path, "provision"), "only for rotation: rolling")


def _max_age(v: Validator, path: KeyPath, body: dict) -> int | None:
    """`max_age_days`: a whole number of days, 1 to 36500; None when absent (no age limit).
    check-secrets and status warn (S024) when the current version is older (README "What
    `check-secrets` checks")."""
    days = v.get(path, body, "max_age_days", int, None)
    if days is not None and (isinstance(days, bool) or not 1 <= days <= 36500):
        raise v.doc.error((*path, "max_age_days"), "must be a whole number of days, 1 to 36500")
    return days
