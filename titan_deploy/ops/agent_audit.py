"""`audit-logs` on the agent path (README "Secrets managers"): the values searched for are the
ones the backend holds, not files on this host. For each stored secret: the entry's latest
version and every version `.titan-deploy/backend-pins.json` pins (what a consumer holds or held
during a rotation), read through the backend client into memory only (never written; each value
joins the output scrubber as it is read, core/backend.py `stored`). The scan itself, the report
and its exit codes are ops/audit.py's: the same sources (logs, container configs, images, or
`--file`), rows, findings and `--json`.
"""

from __future__ import annotations

from pathlib import Path

from titan_deploy.core.backend import SecretBackend
from titan_deploy.core.findings import Finding, Report, warning
from titan_deploy.core.leaks import build_patterns
from titan_deploy.errors import ConfigError
from titan_deploy.ops.stack import Backends
from titan_deploy.project import Project


def backend_values(
    project: Project, backend: SecretBackend, pins: dict[str, dict[str, int | str]]
) -> tuple[dict[str, list[bytes]], list[Finding]]:
    """({secret: [values]}: the latest version and every pinned version of each stored secret
    that is searched (`sensitive: false` ones are not), deduplicated; warnings A004 for an entry
    the backend lacks and for a pinned version it no longer has (destroyed). The backend's
    failures raise as its reads raise them (exit 2/3)."""
    manifest = project.manifest
    grouped: dict[str, list[bytes]] = {}
    findings: list[Finding] = []
    for name in manifest.stored:
        if name in manifest.insensitive:
            continue
        where = backend.config.location(name)
        latest = backend.read(name)
        if latest is None:
            findings.append(_unsearched(name, f"{where} has no current version"))
        found = [] if latest is None else [latest.value.strip()]
        for kv in sorted(set(pins.get(name, {}).values())):
            if latest is not None and str(kv) == latest.version:
                continue
            held = backend.read_version(name, str(kv))
            if held is None:
                findings.append(_unsearched(name, f"{where} has no version {kv} (pinned)"))
            elif held.value.strip() not in found:
                found.append(held.value.strip())
        if found:
            grouped[name] = found
    if manifest.configs:  # the values inside each config's derived entry (README "Config files")
        from titan_deploy.ops.configs import values_in_configs

        texts = _config_texts(project, backend, pins)
        for secret, inside in values_in_configs(project, texts).items():
            if secret in manifest.insensitive:
                continue
            mine = grouped.setdefault(secret, [])
            mine += [v for v in inside if v not in mine]
    return grouped, findings


def _config_texts(
    project: Project, backend: SecretBackend, pins: dict[str, dict[str, int | str]]
) -> dict[str, bytes]:
    """Each config's derived entry, latest and pinned versions, keyed as version files are
    (core/versions.file_name), for ops/configs.values_in_configs."""
    from titan_deploy.core.versions import file_name

    out: dict[str, bytes] = {}
    for name in project.manifest.configs:
        latest = backend.read(name)
        if latest is not None:
            out[name] = latest.value
        for n, kv in enumerate(sorted(set(pins.get(name, {}).values()), key=str), 1):
            held = backend.read_version(name, str(kv))
            if held is not None and (latest is None or held.version != latest.version):
                # KV's number names the version; a Secrets Manager VersionId: its position
                out[file_name(name, kv if isinstance(kv, int) else n)] = held.value
    return out


def _unsearched(name: str, why: str) -> Finding:
    return warning(
        "A004",
        f"{why}: not searched (check-secrets --backend reports it)",
        secret=name,
        fix="titan-deploy check-secrets --backend",
    )


def run_agent_audit(
    project: Project,
    backends: Backends,
    files: list[Path] | None = None,
    services: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Report:
    """ops/audit.run_audit with the backend's values (module doc). ConfigError (exit 2) when
    the backend holds no value to search for; UsageError (2) for a bad option; the backend's
    and the engine's failures exit 3."""
    from titan_deploy.io import backendpins
    from titan_deploy.ops import audit
    from titan_deploy.ops.agent_stack import connect

    pins = backendpins.load(project)
    backend = connect(project)
    grouped, unread = backend_values(project, backend, pins)
    if not grouped:
        raise ConfigError(
            f"{backend.config.location('')} holds no value of this manifest's secrets: "
            "nothing to search for (run `titan-deploy push`)"
        )
    patterns = build_patterns(grouped, context=audit.context_for(project, offline=bool(files)))
    report = audit.search(project, backends, patterns, files, services, since, until)
    report.findings += unread
    report.data["backend"] = backend.config.type
    return report
