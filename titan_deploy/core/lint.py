"""Lint of the merged compose config (prod + overlay), read with interpolation OFF (README
"What `lint` checks").

Input is the dict `docker compose config --no-interpolate --format json` prints, the manifest,
the overlay plan and, optionally, a `LintEnv`: facts about the env files (each service's
`env_file:` and the interpolation `.env`, see core/dotenv.py) and the secret values, compared
in memory. Output is findings. Messages name services, variables, env files and field paths,
never values: with interpolation off a config value is at worst `${VAR}`, and we still do not
echo it. Every code is documented in README.md ("Lint codes").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from titan_deploy.core.conventions import SECRETISH, convention_for, unread_file_var
from titan_deploy.core.dotenv import SECRETS_DIR, EnvFileFacts, EnvVar, secret_needles
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.lint_base import base_file_findings
from titan_deploy.core.lint_envfiles import (
    LintEnv,
    dotenv_values,
    env_file_entries,
    env_file_findings,
)
from titan_deploy.core.lint_manifest import (
    declared_secrets,
    environment,
    missing_consumers,
    mounted_targets,
    mounts,
    unconsumed,
)
from titan_deploy.core.lint_text import argv_secret_reads, interpolated, walk_strings
from titan_deploy.core.manifest import Manifest
from titan_deploy.core.overlay import OverlayPlan

SECRETISH_KEY = SECRETISH
HIGH_ENTROPY = re.compile(r"^(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})$")
RUNTIME_FIELDS = ("command", "entrypoint", "healthcheck", "post_start", "pre_stop")
ENV_FIX = "remove {base} from the service's environment"


@dataclass(frozen=True)
class Setting:
    """How one env var reaches a container: `source` "environment:" or "env_file <file>";
    `state` set (non-empty) / empty / unknown; `value` the `environment:` text (interpolation off)
    or an env file's /run/secrets/ path; `via` the .env that fills an interpolation."""

    name: str
    source: str
    state: str
    value: str | None = None
    via: str | None = None
    fix: str = ""


class _Context:
    """Per-run lookups: the interpolation .env by name, secret variable names, value needles."""

    def __init__(self, manifest: Manifest, plan: OverlayPlan, env: LintEnv) -> None:
        self.manifest = manifest
        self.plan = plan
        self.env = env
        self.dotenv: dict[str, tuple[EnvVar, EnvFileFacts]] = {}
        for facts in env.dotenv:
            for var in facts.vars:
                self.dotenv[var.name] = (var, facts)
        self.needles = secret_needles(env.values)
        # a `sensitive: false` secret is configuration (POSTGRES_USER): a `${VAR}` named after
        # it is not secret-looking (Manifest.insensitive; its value is not searched either)
        sensitive = [s for s in manifest.secrets.values() if s.name not in manifest.insensitive]
        names = {s.name.upper().replace("-", "_").replace(".", "_") for s in sensitive}
        for spec in sensitive:
            envs = [e for c in spec.consumers for e in c.envs] + [spec.secondary_env or ""]
            names |= {base for base in map(file_base, envs) if base}
        names |= {name for name, (var, _) in self.dotenv.items() if var.holds}
        self.secret_names = frozenset(names)

    def is_secret_var(self, name: str) -> bool:
        return bool(SECRETISH_KEY.search(name.upper())) or name in self.secret_names

    def holds(self, text: str) -> str | None:
        """The secret whose value `text` contains (raw or base64), else None."""
        unescaped = text.replace("$$", "$")
        return next((s for s, n in self.needles if n in text or n in unescaped), None)

    def owned(self, service: str) -> set[str]:
        """Env vars the overlay itself points at its mounts (L006 judges those)."""
        svc = self.plan.service(service)
        return {env for mount in svc.mounts for env in mount.envs} if svc else set()

    def declared(self, service: str) -> set[str]:
        """Env vars the manifest says the service reads a secret file from (HMAC listeners: the
        secondary too)."""
        names: set[str] = set()
        for spec in self.manifest.secrets_of(service):
            consumer = spec.consumer(service)
            names.update(consumer.envs if consumer else ())
            if spec.secondary_env and consumer and consumer.role == "listener":
                names.add(spec.secondary_env)
        return names - {""}


def file_base(key: str) -> str | None:
    """`X` for an env var `X_FILE` (or Grafana's `X__FILE`), else None."""
    if key.endswith("__FILE"):
        return key[: -len("__FILE")]
    if key.endswith("_FILE"):
        return key[: -len("_FILE")]
    return None


def lint_config(
    config: dict[str, Any],
    manifest: Manifest,
    plan: OverlayPlan,
    secrets_dir: str,
    env: LintEnv | None = None,
) -> list[Finding]:
    """Findings for a merged compose config (interpolation off). `secrets_dir`: the secrets dir
    as compose prints secret files (absolute), or relative; `env`: env file facts and secret
    values (without it the env-file and value checks find nothing). Never includes a value."""
    ctx = _Context(manifest, plan, env or LintEnv())
    services: dict[str, Any] = config.get("services") or {}
    findings: list[Finding] = []
    for name, body in sorted(services.items()):
        findings += _service(name, body or {}, ctx)
    findings += _top_level_fields(config, ctx)
    findings += dotenv_values(config, ctx.env)
    findings += missing_consumers(manifest, services)
    findings += mounts(plan, services)
    findings += declared_secrets(config, manifest, plan, secrets_dir)
    findings += unconsumed(manifest, plan, services)
    findings += base_file_findings(ctx.env.base, config, manifest, ctx.holds)
    return findings


def _service(name: str, body: dict[str, Any], ctx: _Context) -> list[Finding]:
    env = environment(body)
    settings = _settings(body, env, ctx)
    findings = list(_secret_values_in_env(name, env, ctx))
    findings += _both_set(name, body.get("image"), settings)
    findings += _unmounted_paths(name, body, settings, ctx)
    findings += _unread_file_vars(name, body.get("image"), settings, ctx)
    findings += _fields(name, body, ctx)
    findings += env_file_findings(name, body, ctx.env)
    return findings


def _settings(body: dict[str, Any], env: dict[str, Any], ctx: _Context) -> dict[str, Setting]:
    """Every env var the container gets, by name; `environment:` wins over `env_file:`."""
    settings: dict[str, Setting] = {}
    for path, _ in env_file_entries(body):
        facts = ctx.env.env_files.get(path)
        if facts is None or not facts.readable:
            continue
        for var in facts.last().values():
            state = {"set": "set", "empty": "empty"}.get(var.state, "unknown")
            source = f"env_file {facts.display}"
            settings[var.name] = Setting(
                var.name, source, state, var.secret_path, fix="remove {base} from " + facts.display
            )
    for key, value in env.items():
        settings[key] = _env_setting(key, value, ctx)
    return settings


def _env_setting(key: str, value: Any, ctx: _Context) -> Setting:
    if value is None:  # passthrough: compose takes it from the shell or the .env
        filled = ctx.dotenv.get(key)
        state = "set" if filled and filled[0].state == "set" else "unknown"
        return Setting(
            key, "environment:", state, via=filled[1].display if filled else None, fix=ENV_FIX
        )
    text = str(value)
    refs = interpolated(text)
    if not refs:
        return Setting(key, "environment:", "set" if text else "empty", text, fix=ENV_FIX)
    found = [ctx.dotenv[ref] for ref in refs if ref in ctx.dotenv]
    state = "set" if any(var.state == "set" for var, _ in found) else "unknown"
    via = found[0][1].display if found else None
    return Setting(key, "environment:", state, text, via=via, fix=ENV_FIX)


# --- L001: a secret in plain environment ----------------------------------------------------


def _secret_values_in_env(service: str, env: dict[str, Any], ctx: _Context) -> Iterable[Finding]:
    for key, value in sorted(env.items()):
        text = "" if value is None else str(value)
        if file_base(key) is not None or is_secret_path(text) or ctx.holds(text):
            continue  # a file var, the tool's own kind of value, or L012 (the value itself)
        every = interpolated(text)
        refs = [ref for ref in every if ctx.is_secret_var(ref)]
        refs = refs or (every if SECRETISH_KEY.search(key) else [])
        fix = f"mount it as a secret and set {key}_FILE instead"
        if refs:
            yield error(
                "L001",
                f"environment {key} interpolates ${{{refs[0]}}}: a secret in plain environment",
                service=service,
                fix=fix,
            )
        elif SECRETISH_KEY.search(key) and value is None:
            yield error(
                "L001",
                f"environment {key} is passed through from the host environment",
                service=service,
                fix=fix,
            )
        elif SECRETISH_KEY.search(key) and text:
            yield error(
                "L001",
                f"environment {key} holds a secret-looking value in plain environment",
                service=service,
                fix=fix,
            )
        elif HIGH_ENTROPY.match(text) and "/" not in text[:1]:
            yield warning(
                "L001",
                f"environment {key} holds a long random-looking value; is it a secret?",
                service=service,
            )


def is_secret_path(text: str) -> bool:
    """A path under /run/secrets/ (what the tool itself puts in env vars): never a secret."""
    return (
        text.startswith(SECRETS_DIR) and len(text) > len(SECRETS_DIR) and not re.search(r"\s", text)
    )


# --- L002: X and X_FILE both set --------------------------------------------------------------


def _both_set(service: str, image: Any, settings: dict[str, Setting]) -> Iterable[Finding]:
    conv = convention_for(image if isinstance(image, str) else None)
    for key in sorted(settings):
        base = file_base(key)
        if not base or base not in settings:
            continue
        x = settings[base]
        where = f"{x.source} from {x.via}" if x.via else x.source
        if conv and conv.exclusive and conv.reads(key):
            effect = f"the {conv.name} image refuses to start"
            if x.state != "set":
                effect += f" when {base} is non-empty"
        else:
            effect = f"{base} wins and the file is ignored"
        yield error(
            "L002",
            f"both {base} and {key} are set ({base} by {where}): {effect}",
            service=service,
            fix=x.fix.replace("{base}", base),
        )


# --- L008: a /run/secrets/ path nothing is mounted at ------------------------------------------


def _unmounted_paths(
    service: str, body: dict[str, Any], settings: dict[str, Setting], ctx: _Context
) -> Iterable[Finding]:
    owned = ctx.owned(service)
    targets = mounted_targets(body)
    for name, setting in sorted(settings.items()):
        path = setting.value or ""
        if name in owned or not is_secret_path(path) or "$" in path:
            continue
        if not any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets):
            yield error(
                "L008",
                f"{name} points at {path}, but the service mounts nothing there",
                service=service,
                fix="mount the secret at that path (add the service as a consumer in the manifest "
                "and run `titan-deploy render`), or fix the path",
            )


def _unread_file_vars(
    service: str, image: Any, settings: dict[str, Setting], ctx: _Context
) -> Iterable[Finding]:
    image = image if isinstance(image, str) else None
    declared = ctx.declared(service)
    for name in sorted(set(settings) | declared):
        setting = settings.get(name)
        bad = unread_file_var(image, name, setting.value if setting else None, name in declared)
        if bad is None:
            continue
        if bad.suggestion:
            fix = f"rename it to {bad.suggestion}"
        elif bad.image == "grafana":
            fix = "Grafana reads GF_<SECTION>_<KEY>__FILE (double underscore)"
        else:
            fix = f"use a *_FILE variable the {bad.image} image reads (see its docs)"
        if name in declared:
            fix += " in the manifest's consumers, then run `titan-deploy render`"
        yield error(
            "L009",
            f"the {bad.image} image does not read {name}: the file is ignored and the image "
            "falls back to its default",
            service=service,
            fix=fix,
        )


# --- L010 / L011 / L012: secrets in other fields -----------------------------------------------


def _fields(service: str, body: dict[str, Any], ctx: _Context) -> Iterable[Finding]:
    named = {**body, "environment": environment(body)} if "environment" in body else body
    for path, text in walk_strings(named, hide=ctx.holds):
        in_env = path == "environment" or path.startswith(("environment.", "environment["))
        secret = ctx.holds(text)
        if secret:
            yield _value_finding(path, secret, service)
            continue
        if in_env:
            continue  # L001 judges environment:
        yield from _interpolations(path, text, ctx, service)
        if path.split(".")[0].split("[")[0] in RUNTIME_FIELDS:
            yield from _argv_reads(path, text, ctx, service)


def _top_level_fields(config: dict[str, Any], ctx: _Context) -> Iterable[Finding]:
    rest = {k: v for k, v in config.items() if k != "services"}
    for path, text in walk_strings(rest, hide=ctx.holds):
        secret = ctx.holds(text)
        if secret:
            yield _value_finding(path, secret, None)
        else:
            yield from _interpolations(path, text, ctx, None)


def _value_finding(path: str, secret: str, service: str | None) -> Finding:
    return error(
        "L012",
        f"{path} holds the value of secret {secret}",
        service=service,
        secret=secret,
        fix=f"remove it; the service reads the secret from {SECRETS_DIR}{secret}",
    )


def _interpolations(path: str, text: str, ctx: _Context, service: str | None) -> Iterable[Finding]:
    refs = [ref for ref in interpolated(text) if ctx.is_secret_var(ref)]
    if refs:
        yield error(
            "L010",
            f"{path} interpolates ${{{refs[0]}}}: a secret outside environment:, {_exposure(path)}",
            service=service,
            fix="mount it as a secret and let the service read the file under /run/secrets/",
        )


def _exposure(path: str) -> str:
    head = path.split(".")[0].split("[")[0]
    if head in RUNTIME_FIELDS:
        return "on a command line every local user sees in `ps`"
    if head in ("labels", "annotations"):
        return "in labels `docker inspect` shows"
    if head == "build":
        return "baked into the image (`docker history` shows it)"
    return "written into the compose config"


def _argv_reads(path: str, text: str, ctx: _Context, service: str) -> Iterable[Finding]:
    for what in argv_secret_reads(text, ctx.is_secret_var):
        yield error(
            "L011",
            f"{path} puts {what} on a command line: every local user sees it in `ps`",
            service=service,
            fix="let the program read the file itself (a *_FILE variable, a config file or a "
            "--...-file option); never pass a secret's content as an argument",
        )


# --- L003-L007: the manifest against the config -----------------------------------------------
