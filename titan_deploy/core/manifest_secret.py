"""Parsing one entry of `secrets:` or `configs:` (README "The manifest", "Config files") into a
SecretSpec: its kind and lengths, its consumers (env names, target, role, reload, proof), its
provision, its rotation rules. Errors are ConfigErrors naming file, line and key path
(core/manifest_validate.Validator); core/manifest.py parses the document around them.
"""

from __future__ import annotations

import math
from typing import Any

from titan_deploy.core.limits import MAX_SECRET_BYTES
from titan_deploy.core.manifest_keys import (
    CONFIG_KEYS,
    CONSUMER_KEYS,
    DEFAULT_MAX,
    DEFAULT_MIN,
    GENERATABLE,
    KINDS,
    MULTILINE_KINDS,
    PG_ROLE_RE,
    PROVISION_KEYS,
    PROVISION_KINDS,
    ROLES,
    ROTATIONS,
    SECRET_KEYS,
)
from titan_deploy.core.manifest_model import Consumer, ProvisionSpec, Reload, SecretSpec
from titan_deploy.core.manifest_reload import check_reload, parse_probe, parse_proof, parse_reload
from titan_deploy.core.manifest_validate import Validator, check
from titan_deploy.core.yamlpos import KeyPath


def parse_secret(v: Validator, name: Any, body: Any) -> SecretSpec:
    """One entry `name: body` of `secrets:` as a SecretSpec; ConfigError (exit 2) naming file,
    line and key path when a key is unknown, mistyped or breaks a rule of its kind or rotation."""
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


def parse_configs(v: Validator, top: dict, secrets: dict[str, SecretSpec]) -> dict[str, SecretSpec]:
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
