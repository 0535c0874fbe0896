"""Config files (`configs:`, README "Config files") with a secrets manager (README "Secrets
managers"): a config is rendered by this tool from its template and the values of its inputs
read from the backend (into memory only), and the rendered text is written into the backend as
an entry of its own, a *derived entry* at `<prefix>/<config name>` (config and secret names are
unique within a manifest), each change a new version (KV v2 / Secrets Manager). The agent then
renders it into its consumers' volumes like any secret, pinned like a secret
(io/backendpins.py); verify compares each container's file with the pinned version by hash.

- `render_from(project, spec, values)`: the config's bytes from its inputs' values.
- `sync_configs(project, backend, current, dry_run)`: render every config from `current`
  (input -> value; default: each input's latest version in the backend) and write a new version
  of its entry where it differs (`push` after the secrets, `up` before pinning): rows like push's.
- `check_configs(project, backend)`: check-secrets --backend's rows and findings per config.
- `render_pinned(project, backend, spec, versions)`: a rotation's new version of a config, with
  each input at the KV version it is pinned to (ops/rotate/agent_effects.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from titan_deploy.core.backend import SecretBackend, push_action
from titan_deploy.core.configs import TemplateProblem
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.secretvalue import trimmed
from titan_deploy.project import Project


class NoInput(Exception):
    """An input has no value in the backend (or not the version asked for)."""

    def __init__(self, config: str, where: str) -> None:
        super().__init__(f"config {config}: input {where} has no value: not rendered")


def render_from(project: Project, spec: SecretSpec, values: Mapping[str, bytes]) -> bytes:
    """`spec` rendered from its template with `values` (input -> value; trimmed here).
    ConfigError (exit 2) for an unreadable template; TemplateProblem (scrubbed) when it does
    not render."""
    from titan_deploy.ops.configs import render_bounded, template_source

    source = template_source(project, spec)
    return render_bounded(str(spec.template), source, {k: trimmed(v) for k, v in values.items()})


def backend_inputs(
    backend: SecretBackend, spec: SecretSpec, versions: Mapping[str, int | str | None] | None = None
) -> dict[str, bytes]:
    """Each input's value in the backend: the KV version `versions` names, else its latest.
    NoInput naming the entry when one is missing."""
    out = {}
    for name in spec.inputs:
        version = (versions or {}).get(name)
        stored = backend.read_version(name, str(version)) if version else backend.read(name)
        if stored is None:
            where = backend.config.location(name) + (f" version {version}" if version else "")
            raise NoInput(spec.name, where)
        out[name] = stored.value
    return out


def sync_configs(
    project: Project,
    backend: SecretBackend,
    current: Mapping[str, bytes] | None = None,
    dry_run: bool = False,
) -> tuple[list[dict], list[Finding], dict[str, int]]:
    """(rows, findings, versions written): every config rendered from `current` (input ->
    value; an input not in it: its latest backend version) and written as a new version of its
    derived entry where that differs (not with `dry_run`). Rows: secret, location, action
    (create / update / unchanged / missing: an input has no value / refused: the template does
    not render, S028), version. ConfigError (exit 2) for an unreadable template."""
    rows, findings, written = [], [], {}
    config = backend.config
    for spec in project.manifest.configs.values():
        where = config.location(spec.name)
        remote = backend.read(spec.name)
        version = remote.version if remote else ""
        try:
            known = {k: v for k, v in (current or {}).items() if k in spec.inputs}
            rest = backend_inputs(backend, _without(spec, known))
            data: bytes | None = render_from(project, spec, {**rest, **known})
            action = push_action(data, remote)
        except NoInput as exc:
            data, action = None, "missing"
            findings.append(error("B001", str(exc), secret=spec.name, fix="titan-deploy push"))
        except TemplateProblem as exc:
            data, action = None, "refused"
            findings.append(_problem(spec, exc))
        if data is not None and action in ("create", "update") and not dry_run:
            version = backend.write(spec.name, data, remote)
            if version.isdigit():
                written[spec.name] = int(version)
        rows.append({"secret": spec.name, "location": where, "action": action, "version": version})
    return rows, findings, written


def _without(spec: SecretSpec, known: Mapping[str, bytes]) -> SecretSpec:
    """`spec` with only the inputs not in `known` (those are read from the backend)."""
    from dataclasses import replace

    return replace(spec, inputs=tuple(i for i in spec.inputs if i not in known))


def _problem(spec: SecretSpec, exc: TemplateProblem) -> Finding:
    code = "S027" if exc.code == "undeclared" else "S028"
    return error(
        code, f"config {spec.name}: {exc.message}", secret=spec.name, fix=f"fix {spec.template}"
    )


def check_configs(project: Project, backend: SecretBackend) -> tuple[list[dict], list[Finding]]:
    """check-secrets --backend per config: its derived entry present (else a warning B005:
    `push` or `up` writes it) and equal to a fresh render from its inputs' latest versions
    (else B005 too: stale); a template that does not render is S027/S028 (error). Rows:
    secret, location, version, status (ok / missing / stale / findings)."""
    rows, findings = [], []
    for spec in project.manifest.configs.values():
        where = backend.config.location(spec.name)
        stored = backend.read(spec.name)
        status = "ok"
        try:
            fresh = render_from(project, spec, backend_inputs(backend, spec))
        except NoInput:
            fresh = None  # the input's own row reports it (S001)
        except TemplateProblem as exc:
            findings.append(_problem(spec, exc))
            fresh, status = None, "findings"
        if stored is None:
            status = "missing"
        elif fresh is not None and fresh != stored.value:
            status = "stale"
        if status in ("missing", "stale"):
            why = "does not exist" if stored is None else "differs from a fresh render"
            findings.append(
                warning(
                    "B005",
                    f"{where} (config, derived) {why} from its inputs' latest versions",
                    secret=spec.name,
                    fix="titan-deploy push (or up): renders it and writes a new version",
                )
            )
        version = stored.version if stored else ""
        rows.append({"secret": spec.name, "location": where, "version": version, "status": status})
    return rows, findings


def render_pinned(
    project: Project,
    backend: SecretBackend,
    spec: SecretSpec,
    versions: Mapping[str, int | str | None],
) -> bytes:
    """A config rendered from its inputs at these KV versions (None or absent: the latest).
    NoInput, TemplateProblem, ConfigError as above."""
    return render_from(project, spec, backend_inputs(backend, spec, versions))
