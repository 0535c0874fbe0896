"""Lint of the base compose files as written (README "What `lint` checks": L012, L014, L015),
for what the merged config no longer shows: the overlay takes a plain `X` out (`!reset`,
`environment: !override`) and replaces a managed secret's top-level entry, but what a base file
wrote stays in that file and in its git history.

Input: each base file parsed with its key lines (core/yamlpos `Located`), the merged config, the
manifest and a value matcher; output: findings with `file` and `line`. Never a value: a finding
names the file, line, service, variable and secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.lint_manifest import environment
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.versions import file_name, parse_source
from titan_deploy.core.yamlpos import KeyPath, Located

_REF = re.compile(
    r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-+?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)"
)
_DSN_PASSWORD = re.compile(r"://[^/@\s:]*:([^@\s/]+)@")
SECRETS_MOUNT = "/run/secrets/"


def base_file_findings(
    base: Sequence[Located],
    config: Mapping[str, Any],
    manifest: Manifest,
    holds: Callable[[str], str | None],
) -> list[Finding]:
    """For each base file: every `environment:` value the merged config no longer carries that
    holds a secret's value (L012, error) or is written as a literal (L015, warning), and every
    top-level secret of a managed name sourced by `external:` or `environment:` (L014, error).
    `holds(text)`: the secret whose value `text` contains, else None."""
    merged = config.get("services") or {}
    names = list(manifest.secrets)
    findings: list[Finding] = []
    for doc in base:
        top = doc.value if isinstance(doc.value, dict) else {}
        services = top.get("services")
        for service, body in services.items() if isinstance(services, dict) else ():
            if isinstance(body, dict):
                gone = _taken_out(body, merged.get(service))
                findings += _env_values(doc, str(service), gone, manifest, holds)
        declared = top.get("secrets")
        for name, body in declared.items() if isinstance(declared, dict) else ():
            source = parse_source(str(name), names)
            if source is not None and isinstance(body, dict):
                secret, version = source
                file = f"{manifest.secrets_dir}/" + file_name(
                    manifest.secrets[secret].file_name, version
                )
                findings += _sourced_elsewhere(doc, str(name), body, file)
    return findings


def _taken_out(body: dict[str, Any], merged: Any) -> list[tuple[str, str, KeyPath]]:
    """(name, value as text, key path) of each `environment:` entry of a base service `body`
    that the merged service no longer has with that value."""
    now = environment(merged) if isinstance(merged, dict) else {}
    out = []
    for name, value, path in _entries(body.get("environment")):
        if value is not None and (name not in now or str(now[name]) != value):
            out.append((name, value, path))
    return out


def _entries(raw: Any) -> Iterable[tuple[str, str | None, KeyPath]]:
    """(name, value or None, key path below the service) of one `environment:` as written."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            text = None if value is None else _text(value)
            yield str(key), text, ("environment", str(key))
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            key, sep, value = str(item).partition("=")
            yield key, (value if sep else None), ("environment", index)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _env_values(
    doc: Located,
    service: str,
    gone: list[tuple[str, str, KeyPath]],
    manifest: Manifest,
    holds: Callable[[str], str | None],
) -> Iterable[Finding]:
    for name, value, path in gone:
        line = doc.line(("services", service, *path))
        secret = holds(value)
        if secret:
            yield replace(
                error(
                    "L012",
                    f"environment {name} of service {service} holds the value of secret {secret} "
                    "in a base compose file: the overlay takes it out, but the value is in the "
                    "file and its git history",
                    service=service,
                    secret=secret,
                    fix=f"remove it from {doc.source} and rotate {secret}: its value is exposed",
                ),
                file=doc.source,
                line=line,
            )
        elif is_literal(value):
            owner = _secret_of(manifest, service, name)
            yield replace(
                warning(
                    "L015",
                    f"environment {name} of service {service} is written as a literal value in "
                    "a base compose file: the overlay takes it out, but the value stays in the "
                    "file and its git history",
                    service=service,
                    secret=owner,
                    fix=f"treat that value as exposed (never reuse it; rotate {owner or 'it'} if "
                    f"it was ever used), and write ${{{name}}} there instead, or remove the line",
                ),
                file=doc.source,
                line=line,
            )


def is_literal(text: str) -> bool:
    """Whether `text` (as written, interpolation off) carries a value of its own: any text
    without a `${VAR}`; with one, a literal default (`${X:-v}`, `${X:+v}`) or a DSN's literal
    password (`postgres://u:pass@db`). A path under /run/secrets/ is not a value."""
    if not text.strip() or text.startswith(SECRETS_MOUNT):
        return False
    refs = [m for m in _REF.finditer(text) if m.group(0) != "$$"]
    if not refs:
        return True
    if any(m.group(2) in (":-", "-", ":+", "+") and (m.group(3) or "").strip() for m in refs):
        return True
    dsn = _DSN_PASSWORD.search(text)
    return bool(dsn and "$" not in dsn.group(1).replace("$$", ""))


def _secret_of(manifest: Manifest, service: str, name: str) -> str | None:
    """The manifest secret whose `X_FILE` the service reads instead of `name`, if any."""
    for spec in manifest.secrets_of(service):
        consumer = spec.consumer(service)
        envs = consumer.envs if consumer else ()
        if any(env in (f"{name}_FILE", f"{name}__FILE") for env in envs):
            return spec.name
    return None


_ELSEWHERE = {
    "external": "is declared `external:` in a base compose file: Compose would use a secret "
    "created outside this project",
    "environment": "is read from an environment variable (`environment:`) in a base compose "
    "file: its value passes through Compose's environment (the shell or .env)",
}


def _sourced_elsewhere(
    doc: Located, name: str, body: dict[str, Any], file: str
) -> Iterable[Finding]:
    """L014 for each of `external:` / `environment:` set on a managed secret's base entry
    (`file`: its value's file, relative to the project dir)."""
    for key, what in _ELSEWHERE.items():
        if body.get(key) in (None, False):
            continue
        yield replace(
            error(
                "L014",
                f"secret {name} {what}, not the manifest's file in the secrets dir",
                secret=name,
                fix=f"delete `{key}:` there (or the whole entry) and keep the value in "
                f"./{file}: the overlay declares {name} with `file:`",
            ),
            file=doc.source,
            line=doc.line(("secrets", name, key)),
        )
