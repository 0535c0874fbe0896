"""Config files on disk (README "Config files"): read each config's template and its inputs,
render it (core/configs.py, sandboxed, scrubbed errors; in a forked child under a memory cap and a
CPU limit, io/bounded.py: the sandbox bounds what a template may reach, not what it may cost) and
write `secrets/<file>` atomically
with the secrets' mode and group; the check-secrets findings (S027, S028) and the fresh renders
verify compares containers with (V009).

The interface other code uses:

- `render_bytes(project, spec, versions)`: the rendered content of config `spec` with each
  input's value read from its base file, or from version N where `versions[input] = N`.
  Raises ConfigError (template unreadable, exit 2), MissingInput, TemplateProblem.
- `write_configs(project)`: render every config from its inputs' base files into its base
  file, replacing it only when the render differs; returns what it did per config.
- `check_findings(project)`: S027 / S028 per config.
- `fresh_digests(project)`: config name -> sha256 of a fresh render (verify's V009).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from titan_deploy.core.checks import expected_file_mode
from titan_deploy.core.configs import TemplateProblem, render
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.secretvalue import trimmed
from titan_deploy.core.versions import file_name
from titan_deploy.errors import ConfigError
from titan_deploy.io import fs
from titan_deploy.project import Project

if TYPE_CHECKING:  # audit-logs --file loads no rotation code
    from titan_deploy.core.rotation.journal import Journal


class MissingInput(Exception):
    """An input's file is missing or unreadable: the config cannot be rendered now."""

    def __init__(self, config: str, path: str) -> None:
        super().__init__(f"{config}: input file {path} is missing or unreadable")
        self.path = path


def template_source(project: Project, spec: SecretSpec) -> str:
    """The text of `spec`'s template (relative to the project dir), read bounded, a regular
    file only. ConfigError (exit 2, `PATH: reason`) when it cannot be read or is not UTF-8."""
    shown = str(spec.template)
    try:
        return fs.read_config(project.path(shown)).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: template of config {spec.name} is not UTF-8 text") from None
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ConfigError(f"{shown}: template of config {spec.name}: {reason}") from None


def input_path(project: Project, manifest: Manifest, name: str, version: int | None) -> Path:
    """The file of `version` (None: the base file) of input secret `name`."""
    return project.secrets_dir / file_name(manifest.secrets[name].file_name, version)


def input_values(
    project: Project, spec: SecretSpec, versions: Mapping[str, int | None] | None = None
) -> dict[str, bytes]:
    """Each input's trimmed value (its base file, or the version `versions` names).
    MissingInput when one cannot be read."""
    manifest = project.manifest
    out = {}
    for name in spec.inputs:
        path = input_path(project, manifest, name, (versions or {}).get(name))
        try:
            out[name] = trimmed(fs.read_secret(path))
        except OSError:
            raise MissingInput(spec.name, path.name) from None
    return out


def render_bytes(
    project: Project, spec: SecretSpec, versions: Mapping[str, int | None] | None = None
) -> bytes:
    """`spec` rendered from its template and inputs (see the module doc)."""
    source = template_source(project, spec)
    return render_bounded(str(spec.template), source, input_values(project, spec, versions))


def render_bounded(template: str, source: str, values: Mapping[str, bytes]) -> bytes:
    """core/configs `render` in a forked child under io/bounded.py's limits (memory, CPU time):
    its bytes, or TemplateProblem ("render") naming the template and the limit it passed, or the
    render's own problem. Nothing of a value in any message (the child sends back only the
    problem's scrubbed text or the exception's type name)."""
    return _bounded(render, template, source, dict(values))


def referenced_bounded(template: str, source: str, inputs: Iterable[str]) -> None:
    """core/configs `referenced` (parse, and find the names used) under the same limits: Jinja
    evaluates constant expressions while it compiles (`{{ "%09999999999d" % 1 }}` is computed
    there), so even a template that is never rendered can cost without bound."""
    from titan_deploy.core.configs import referenced

    _bounded(referenced, template, source, tuple(inputs))


def _bounded(fn: Callable[..., Any], template: str, *args: Any) -> Any:
    from titan_deploy.core.configs import warm
    from titan_deploy.io.bounded import Crashed, Exceeded, call_bounded

    warm()  # once per process: every child inherits Jinja and its lexer
    try:
        outcome = call_bounded(_template_outcome, fn, template, *args)
    except (Exceeded, Crashed) as exc:
        raise TemplateProblem("render", f"{template}: the template {exc}") from None
    if outcome[0] == "problem":
        raise TemplateProblem(outcome[1], outcome[2])
    return outcome[1]


def _template_outcome(fn: Callable[..., Any], *args: Any) -> tuple:
    """In the bounded child: ("ok", fn's result) or ("problem", code, scrubbed message)."""
    try:
        return ("ok", fn(*args))
    except TemplateProblem as exc:
        return ("problem", exc.code, exc.message)


def write_configs(project: Project) -> dict[str, str]:
    """Render every config into its base file (mode and group of the secrets), atomically and
    only when the content differs. Returns config -> "written" | "unchanged" | "skipped: why".
    ConfigError (exit 2) for an unreadable template or one that does not render (its scrubbed
    line)."""
    manifest = project.manifest
    gid = manifest.secrets_gid
    done: dict[str, str] = {}
    for spec in manifest.configs.values():
        try:
            data = render_bytes(project, spec)
        except MissingInput as exc:
            done[spec.name] = f"skipped: {exc}"
            continue
        except TemplateProblem as exc:
            raise ConfigError(f"config {spec.name}: {exc.message}") from None
        target = spec.path_in(project.secrets_dir)
        if _current(target) == data:
            done[spec.name] = "unchanged"
            continue
        if not project.secrets_dir.is_dir():
            done[spec.name] = "skipped: no secrets dir (titan-deploy init)"
            continue
        fs.atomic_write(target, data, expected_file_mode(gid), gid, root=project.secrets_root)
        done[spec.name] = "written"
    return done


def _current(path: Path) -> bytes | None:
    try:
        return fs.read_secret(path)
    except OSError:
        return None


def fresh_digests(project: Project, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Config name -> the sha256 of a fresh render from its inputs' base files (the current
    values: a rotation copies each new version to the base file). Configs in `skip` (a
    rotation in flight), and those that cannot be rendered now, are left out."""
    out = {}
    for spec in project.manifest.configs.values():
        if spec.name in skip:
            continue
        try:
            out[spec.name] = hashlib.sha256(render_bytes(project, spec)).hexdigest()
        except (MissingInput, TemplateProblem, ConfigError):
            continue
    return out


def rendered_version(project: Project, name: str, journal: Journal) -> bytes:
    """A rotation's new version of config `name` (its entry as the journal froze it): rendered
    with each input the rotation in flight rotates at its new version, every other input at
    its base file (the current value).
    StepFailed (the rotation rolls back) when it cannot be rendered; the message is scrubbed."""
    from titan_deploy.core.rotation.manifestchange import effective_manifest
    from titan_deploy.ops.rotate.runner import StepFailed

    spec = effective_manifest(project.manifest, journal).secrets[name]
    active = journal.active
    new = active.new_versions if active is not None else {}
    versions = {name: new[name] for name in spec.inputs if name in new}
    try:
        return render_bytes(project, spec, versions)
    except TemplateProblem as exc:
        raise StepFailed(f"config {spec.name}: {exc.message}") from None
    except (MissingInput, ConfigError) as exc:
        raise StepFailed(str(exc)) from None


def config_history(
    project: Project, journal: Journal, secrets: Iterable[str]
) -> dict[str, tuple[tuple[int, ...], int]]:
    """Config -> (its version files, the journal's last version of it) for every config
    rendered from `secrets`: what a rotation plan needs to give each a new version."""
    from titan_deploy.ops.rotate.session import existing_versions

    return {
        name: (existing_versions(project, name), journal.last_version.get(name, 0))
        for name in project.manifest.configs_using(secrets)
    }


def values_in_configs(project: Project, values: Mapping[str, bytes]) -> dict[str, list[bytes]]:
    """Input secret -> the values the rendered config files hold (`values`: file name ->
    content, as ops/stack.read_secret_values gives them; base files and versions), for the
    leak search: a config version may hold a value whose own file is gone (a superseded version
    removed while a container still mounts the config). Never the whole file (core/configs
    `embedded_values`); a template that cannot be read adds nothing."""
    import secrets as random

    from titan_deploy.core.configs import embedded_values
    from titan_deploy.core.versions import owner

    manifest = project.manifest
    configs = manifest.configs
    nonce = random.token_hex(8)
    out: dict[str, list[bytes]] = {}
    sources: dict[str, str] = {}
    for entry, content in values.items():
        name = owner(entry, manifest.secrets) or entry
        spec = configs.get(name)
        if spec is None:
            continue
        try:
            source = sources.setdefault(name, template_source(project, spec))
        except ConfigError:
            continue
        found = embedded_values(
            str(spec.template), source, spec.inputs, content, nonce, render=render_bounded
        )
        for secret, items in found.items():
            out.setdefault(secret, []).extend(v for v in items if v.strip())
    return out
