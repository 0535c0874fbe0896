"""`adopt`: find the secrets a compose project keeps in env files, plan moving them to files. PURE.

Input: the parsed compose files, the text of every `env_file:` they name and of the interpolation
`.env` (read by ops/adopt.py). Output: an `AdoptPlan` — what is found, who reads it under which
names, what is written and removed, what cannot be adopted and why — and, apart from it, a
`Values` mapping (secret name -> bytes) used only by the writer. The plan holds no value, not
even a fragment: it is what `adopt --dry-run` prints.

What is a secret (found where the services get their environment: `env_file:`s, `environment:`
and the `.env` values it interpolates):
- by NAME: `*PASSWORD*`, `*PASSWD*`, `*PASSPHRASE*`, `*SECRET*`, `*TOKEN*`, `*_KEY`/`*APIKEY`,
  unless the value is a number or true/false (a setting such as `TOKEN_TTL=3600`), empty, a
  placeholder (`changeme`) or a /run/secrets/ path;
- a DSN with a password (`scheme://user:PASSWORD@host/...`) under any name: the WHOLE value is
  one secret (kind text), because a consumer that reads `DATABASE_URL_FILE` needs the whole URL.
  Only consumers that read `X_FILE` can take it; for an image that cannot, it is refused
  (a config file the manifest renders, `configs:`). When it embeds another adopted secret's
  value the plan says so: rotating that one does not update the DSN;
- by VALUE: a long random-looking value (lint's HIGH_ENTROPY rule) under another name is listed
  as `possible` and adopted only when named with `--include NAME`.
Identical values under several names are ONE secret (`DB_PASSWORD` and `TITAN_DB_PASSWORD`): a
service that got it under two names reads the one file under both (`env: [A_FILE, B_FILE]`).

Which file var a consumer reads (core/conventions.py): an official image it knows reads its own
spelling (`POSTGRES_PASSWORD_FILE`, Grafana's `GF_..._PASSWORD__FILE`); a name it cannot read
from a file is refused when the name is the image's own (`POSTGRES_*`), else the image never read
it (it only came with a shared `env_file:`) and simply stops receiving it. Images known to read no
secret file at all (redis, nats, traefik, memcached) likewise stop receiving env_file values they
never named. Every other image is taken to honour the `*_FILE` loader contract: `X_FILE`.

Values are read as Compose reads them: an `env_file:` with `format: raw` by the docker CLI's
`--env-file` grammar (core/dotenv.raw_lines), the others by compose-go's dotenv grammar; the
merge of the compose files honours Compose's `!reset`/`!override` (a reset env_file is not read,
an overridden list replaces the earlier one); and ops/adopt.py hands in what Compose itself
gives each container (`compose_env`): a value adopt reads otherwise is refused, never written.
`environment: X=${V}` (exactly one reference) is V's value from `.env`: the consumer reads
X_FILE and the overlay resets X (core/overlay.py takes a plain X out where X_FILE is read); the
`.env` line keeps a stand-in (`STAND_IN`) because Compose interpolates the upstream file before
the overlay resets X. A value check-secrets would reject (core/valuechecks.py: NUL, too large,
invalid for its kind, weak for a strict kind) is refused as A006, named, never shown.

A secret is adopted all or nothing: one refused use keeps every line of it where it is.
Refused, with the reason and what to do:
- a value written in an upstream compose file (`environment: {X: literal}`): adopt never edits it;
- `environment: X=prefix${V}suffix`: X's value is not V's;
- any other interpolation of the value (a command line such as redis' `--requirepass ${V}`, a
  healthcheck, a label) and a command that expands it at run time (`$$X`, nats' envsubst): the
  program needs a config file the manifest renders (`configs:`);
- names the manifest cannot hold yet (a service or env name outside its alphabet), a value in an
  env file outside the project dir (read, never written: an included compose file's env_file may
  lie there; the operator edits it by hand), a clash with an existing manifest entry;
- top-level compose `secrets:` that are `external:` or `environment:`-sourced: not files adopt
  can manage;
- a `.env` variable that something adopt does not plan from also reads (an `include:`d file, a
  top-level secret's or config's `environment:`, `${V}` outside `services:`, an env file's
  `X=${V}`): its `.env` line would change under that reader (`_readers_elsewhere`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from titan_deploy.core import adopt_rules as rules
from titan_deploy.core.adopt_model import (  # noqa: F401 (the plan's types, re-exported)
    AdoptInput,
    AdoptPlan,
    ComposeFile,
    ConsumerPlan,
    EnvEdit,
    Refusal,
    SecretPlan,
    Use,
    Values,
)
from titan_deploy.core.dotenv import Assignment, assignments
from titan_deploy.core.lint_envfiles import env_file_entries
from titan_deploy.core.lint_text import interpolated, variable_refs, walk_strings
from titan_deploy.core.yamlpos import OVERRIDE_TAG, RESET_TAG, Located


@dataclass
class _Service:
    name: str
    image: str | None = None
    env_files: list[str] = field(default_factory=list)
    raw: set[str] = field(default_factory=set)  # env files it reads with `format: raw`
    environment: dict[str, tuple[Any, str, int]] = field(default_factory=dict)
    runtime: list[str] = field(default_factory=list)  # command/entrypoint/healthcheck strings
    other: list[tuple[str, str, str]] = field(default_factory=list)  # (path, text, compose file)


def env_file_paths(compose: Iterable[ComposeFile]) -> list[str]:
    """Every `env_file:` the services read once the compose files are merged (`!reset` and
    `!override` honoured), as project-relative paths (compose resolves them from the project
    dir), in first-seen order: what ops must read for plan_adoption."""
    services, _ = _read_services(compose)
    seen: dict[str, None] = {}
    for svc in services.values():
        for path in svc.env_files:
            seen.setdefault(path)
    return list(seen)


def plan_adoption(data: AdoptInput) -> tuple[AdoptPlan, Values]:
    """The plan and, apart, the values of the secrets it adopts. Never raises on odd input:
    what it cannot read it reports as a refusal."""
    services, compose_refusals = _read_services(data.compose)
    raw_paths, mode_refusals = _formats(services)
    files = {path: _parse(text, path in raw_paths) for path, text in data.env_files.items()}
    files.update((r.where, None) for r in mode_refusals)  # read two ways: not adopted from
    dotenv = _parse(data.dotenv)
    uses, values = _uses(services, files, dotenv, data)
    runtime = {svc.name: _runtime_names(svc) for svc in services.values()}
    grouped = _group(uses, values, data)
    elsewhere = _readers_elsewhere(data, files, raw_paths, dotenv)
    out = rules.Decider(
        services={s.name: s.image for s in services.values()}, runtime=runtime, elsewhere=elsewhere
    )
    every = dict(files)  # the .env too: an adopted value it holds leaves it
    if dotenv is not None:
        every.setdefault(data.dotenv_display, dotenv)
    plan, chosen = out.decide(grouped, data, every)
    refusals = (*compose_refusals, *mode_refusals, *plan.refusals, *_outside(files))
    notes = (*plan.notes, *_already_files(services))
    names = tuple(sorted({n for u, _ in uses for n in (u.name, u.var) if n}))
    plan = AdoptPlan(plan.secrets, refusals, plan.edits, plan.possible, notes, names)
    return plan, Values({name: values[index].encode() for name, index in chosen.items()})


def _parse(text: str | None, raw: bool = False) -> list[Assignment] | None:
    return None if text is None else assignments(text, raw=raw)


def _formats(services: dict[str, _Service]) -> tuple[set[str], list[Refusal]]:
    """The env files read with `format: raw`, and a refusal for each file one service reads raw
    and another as dotenv (two readings of one line: adopt cannot tell which value is meant)."""
    raw = {p for svc in services.values() for p in svc.raw}
    plain = {p for svc in services.values() for p in svc.env_files if p not in svc.raw}
    refusals = [
        Refusal(
            (),
            path,
            "read with `format: raw` by one service and as dotenv by another: two values for "
            "one line; give every service the same format, then run adopt again",
        )
        for path in sorted(raw & plain)
    ]
    return raw - plain, refusals


def _normal(path: str) -> str:
    return posixpath.normpath(path.removeprefix("./")) if path else path


def _services(doc: Located) -> dict[str, Any]:
    value = doc.value if isinstance(doc.value, dict) else {}
    services = value.get("services")
    return services if isinstance(services, dict) else {}


def _env_file_entries(body: Any) -> list[tuple[str, bool]]:
    """(path, raw) of a service's `env_file:` entries (lint's reader for the paths; `format:
    raw` from the long form)."""
    raw = body.get("env_file") if isinstance(body, dict) else None
    items = [raw] if isinstance(raw, (str, dict)) else raw if isinstance(raw, list) else []
    formats = {
        item.get("path"): item.get("format") == "raw" for item in items if isinstance(item, dict)
    }
    return [(path, formats.get(path, False)) for path, _ in env_file_entries(body)]


def _read_services(compose: Iterable[ComposeFile]) -> tuple[dict[str, _Service], list[Refusal]]:
    """Services merged over the files as Compose merges them (environment by key, later files
    win; env_file appended) with Compose's merge tags (core/yamlpos.py records them): `!reset`
    on a service, its `env_file:`, its `environment:` or one environment key removes what the
    earlier files set; `!override` replaces it. Also the top-level secrets adopt cannot manage."""
    out: dict[str, _Service] = {}
    refusals: list[Refusal] = []
    for cf in compose:
        tags = cf.doc.tags
        for name, body in _services(cf.doc).items():
            base = ("services", str(name))
            if not isinstance(body, dict):
                continue
            if tags.get(base) == OVERRIDE_TAG:
                out.pop(str(name), None)
            svc = out.setdefault(str(name), _Service(str(name)))
            svc.image = body.get("image") if isinstance(body.get("image"), str) else svc.image
            _merge_env_files(svc, body, tags.get((*base, "env_file")), cf.base)
            _merge_environment(svc, cf, str(name), body.get("environment"))
            for key, value in body.items():
                if key == "environment":
                    continue
                for path, text in walk_strings(value, key):
                    if key in rules.RUNTIME_FIELDS:
                        svc.runtime.append(text)
                    svc.other.append((path, text, cf.display))
        for (*head, key), tag in tags.items():  # a service `!reset` to nothing
            if tag == RESET_TAG and tuple(head) == ("services",):
                out.pop(str(key), None)
        refusals += _top_level_secrets(cf)
    return out, refusals


def _merge_env_files(svc: _Service, body: dict, tag: str | None, base: str) -> None:
    """Add a service body's `env_file:` entries, each taken from `base` (the compose file's own
    directory, project-relative) and normalised to a project-relative path."""
    if tag is not None:  # `env_file: !reset` or `!override`: the earlier files' entries go
        svc.env_files, svc.raw = [], set()
    for path, raw in _env_file_entries(body):
        path = _normal(posixpath.join(base, path) if path else path)
        if path not in svc.env_files:
            svc.env_files.append(path)
        if raw:
            svc.raw.add(path)
        else:
            svc.raw.discard(path)


def _merge_environment(svc: _Service, cf: ComposeFile, service: str, raw: Any) -> None:
    base = ("services", service, "environment")
    tags = cf.doc.tags
    if tags.get(base) is not None:  # `environment: !reset` / `!override`
        svc.environment = {}
    for (*head, key), tag in tags.items():  # `X: !reset null`: this key is unset
        if tuple(head) == base and tag == RESET_TAG:
            svc.environment.pop(str(key), None)
    svc.environment.update(_environment(cf, service, raw))


def _environment(cf: ComposeFile, service: str, raw: Any) -> dict[str, tuple[Any, str, int]]:
    base = ("services", service, "environment")
    out: dict[str, tuple[Any, str, int]] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            out[str(key)] = (value, cf.display, cf.doc.line((*base, str(key))))
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            if isinstance(item, str):
                key, sep, value = item.partition("=")
                out[key] = (value if sep else None, cf.display, cf.doc.line((*base, i)))
    return out


def _top_level_secrets(cf: ComposeFile) -> list[Refusal]:
    value = cf.doc.value if isinstance(cf.doc.value, dict) else {}
    secrets = value.get("secrets")
    out = []
    for name, body in (secrets or {}).items() if isinstance(secrets, dict) else ():
        if not isinstance(body, dict):
            continue
        where = f"{cf.display}:{cf.doc.line(('secrets', str(name)))}"
        if body.get("external"):
            reason = (
                f"compose secret {name} is external: (managed outside this project); "
                "titan-deploy manages file secrets only — declare a file secret in the manifest"
            )
            out.append(Refusal((str(name),), where, reason))
        elif body.get("environment"):
            reason = (
                f"compose secret {name} is sourced from environment: {body['environment']}; "
                "adopt moves values into files: put the value in an env_file and run adopt again"
            )
            out.append(Refusal((str(name),), where, reason))
    return out


def _uses(
    services: dict[str, _Service],
    files: Mapping[str, list[Assignment] | None],
    dotenv: list[Assignment] | None,
    data: AdoptInput,
) -> tuple[list[tuple[Use, int]], list[str]]:
    """Every (use, value index): env_file vars per service (environment: wins), environment:
    literals and interpolations, and every other interpolation of a `.env` variable."""
    values: list[str] = []
    index: dict[str, int] = {}

    def keep(value: str) -> int:
        """The index of `value` in `values` (added once)."""
        if value not in index:
            index[value] = len(values)
            values.append(value)
        return index[value]

    env = {a.name: a for a in dotenv or []}
    dot = data.dotenv_display
    out: list[tuple[Use, int]] = []
    for svc in services.values():
        seen: dict[str, tuple[Use, int]] = {}
        for path in svc.env_files:
            for a in files.get(path) or []:
                if a.value is not None:
                    use = Use(svc.name, a.name, path, a.first, a.last, "env_file")
                    seen[a.name] = (use, keep(a.value))
        for name, (raw, cfile, line) in svc.environment.items():
            seen.pop(name, None)
            out += _environment_uses(svc.name, name, raw, f"{cfile}:{line}", env, dot, keep)
        out += seen.values()
        for path, text, cfile in svc.other:
            for var in dict.fromkeys(interpolated(text)):
                if var in env and env[var].value is not None:
                    a = env[var]
                    head = path.split(".")[0].split("[")[0]
                    via = "argv" if head in rules.RUNTIME_FIELDS else "config"
                    use = Use(svc.name, var, dot, a.first, a.last, via, f"{cfile} {path}", var)
                    out.append((use, keep(a.value or "")))
    return out, values


_WHOLE_REF = re.compile(
    r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\})"
)


def _environment_uses(service, name, raw, ref, env, dot, keep) -> list[tuple[Use, int]]:
    """The uses of `environment:` entry `name` (`raw` as written, None for a bare `- NAME`):
    a bare name passes the `.env` value through (`passthrough`); a value that is exactly one
    `${V}` (a default or required form allowed) is V's value (`interpolation`: the overlay
    resets `name` for the consumer, the `.env` line becomes a stand-in); `${V}` with more text
    around it (`composed`) is not V's value and is refused; no reference: a literal."""
    if raw is None:  # `- NAME`: compose passes it from the shell or the .env
        a = env.get(name)
        if a is None or a.value is None:
            return []
        return [(Use(service, name, dot, a.first, a.last, "passthrough", ref, name), keep(a.value))]
    text = str(raw)
    refs = [v for v in dict.fromkeys(interpolated(text)) if v in env and env[v].value is not None]
    if not refs and not variable_refs(text)[0]:
        file, _, line = ref.rpartition(":")
        literal = text.replace("$$", "$")
        return [(Use(service, name, file, int(line), int(line), "environment", ref), keep(literal))]
    whole = _WHOLE_REF.fullmatch(text)
    out = []
    for var in refs:
        a = env[var]
        via = "interpolation" if whole and var in whole.groups() else "composed"
        use = Use(service, name, dot, a.first, a.last, via, ref, var)
        out.append((use, keep(a.value or "")))
    return out


def _readers_elsewhere(
    data: AdoptInput,
    files: Mapping[str, list[Assignment] | None],
    raw_paths: set[str],
    dotenv: list[Assignment] | None,
) -> dict[str, list[str]]:
    """`.env` variable -> every place that reads it that the plan does not follow as a use:
    `${V}` outside `services:` (a top-level `configs:`, `networks:`, `name:`; never an `x-`
    extension, which reaches a service only through an alias the service's own use shows),
    a top-level secret or config `environment: V`, anything in an `include:`d file (its
    services too: `${V}` or a bare `- V`), and `${V}` in an env file (Compose interpolates
    env_file values from the project environment, `.env` included; not a `format: raw` one).
    A secret with such a reader is not adopted: its `.env` line would change under it."""
    out: dict[str, list[str]] = {}
    for cf in data.compose:
        _doc_readers(cf, skip_services=True, out=out)
    for cf in data.included:
        _doc_readers(cf, skip_services=False, out=out)
    texts = [(p, a) for p, assigned in files.items() if p not in raw_paths for a in assigned or []]
    texts += [(data.dotenv_display, a) for a in dotenv or []]
    for path, a in texts:
        for var in interpolated(a.value or ""):
            if var != a.name:
                out.setdefault(var, []).append(f"{path}:{a.first} ({a.name}=${{{var}}})")
    return out


def _doc_readers(cf: ComposeFile, skip_services: bool, out: dict[str, list[str]]) -> None:
    value = cf.doc.value if isinstance(cf.doc.value, dict) else {}
    for key, body in value.items():
        key = str(key)
        if key.startswith("x-") or (skip_services and key == "services"):
            continue
        for path, text in walk_strings(body, key):
            for var in dict.fromkeys(interpolated(text)):
                out.setdefault(var, []).append(f"{cf.display} {path}")
        if key in ("secrets", "configs") and isinstance(body, dict):
            for name, entry in body.items():
                source = entry.get("environment") if isinstance(entry, dict) else None
                if isinstance(source, str):
                    where = f"{cf.display} {key}.{name}.environment"
                    out.setdefault(source, []).append(where)
    for name, body in () if skip_services else _services(cf.doc).items():
        for var in _passed_through(body.get("environment") if isinstance(body, dict) else None):
            out.setdefault(var, []).append(f"{cf.display} services.{name}.environment")


def _passed_through(env: Any) -> list[str]:
    """The names an `environment:` passes from the project environment (`- V`, `V:` empty)."""
    if isinstance(env, dict):
        return [str(k) for k, v in env.items() if v is None]
    if isinstance(env, list):
        return [i for i in env if isinstance(i, str) and "=" not in i]
    return []


def _runtime_names(svc: _Service) -> set[str]:
    """Env names a container shell expands on the service's command line (`$$X`)."""
    return {name for text in svc.runtime for name, _ in variable_refs(text)[1]}


def _group(uses: list[tuple[Use, int]], values: list[str], data: AdoptInput) -> list[rules.Group]:
    """Uses grouped by identical value; each group's reason to be a secret (or none)."""
    by_value: dict[int, list[Use]] = {}
    for use, index in uses:
        by_value.setdefault(index, []).append(use)
    out = []
    for index, members in by_value.items():
        value = values[index]
        names = {u.name for u in members} | {u.var for u in members if u.var}
        found = rules.found_by(names, value, data.include)
        if found is None:
            continue
        out.append(rules.Group(index=index, uses=tuple(members), found_by=found, value=value))
    return out


def _outside(files: Mapping[str, Any]) -> list[Refusal]:
    """A refusal for each env file outside the project dir that could not be read (one that was
    read names its secrets in their own refusals: core/adopt_rules.py)."""
    out = []
    for path, parsed in files.items():
        if parsed is None and (path.startswith("/") or path == ".." or path.startswith("../")):
            reason = (
                "outside the project dir and not readable: adopt rewrites env files inside it only"
            )
            out.append(Refusal((), path, reason))
    return out


def _already_files(services: dict[str, _Service]) -> list[str]:
    out = []
    for svc in services.values():
        for name, (raw, cfile, line) in sorted(svc.environment.items()):
            if re.search(r"_FILE$", name) and isinstance(raw, str) and raw.startswith("/run/"):
                out.append(
                    f"{svc.name} already reads {name} from a file ({cfile}:{line}): left as it "
                    "is (declare it in the manifest to have it verified)"
                )
    return out
