"""`adopt`: move the secrets a compose project keeps in env files into `./secrets/`, without
touching its compose files.

Recipe: read the compose files, their env files and `.env` -> plan (core/adopt.py, pure) ->
with `--dry-run` report the plan; else check that nothing would be overwritten with a different
value, then write in an order that leaves a working project at every point:
1. `secrets/<name>` — created 0600 (0640 and the secrets group with `secrets_gid`), atomically,
   never over an existing file (one with the same value is fine, another is an error: exit 1,
   nothing written);
2. `secrets.manifest.yml` — created, or the new entries inserted under `secrets:` (every other
   byte kept), parsed again before it is written;
3. the overlay — rendered by `render` from the manifest;
4. each env file — first copied, as it was, to `<state dir>/adopt/<file>.<UTC time>` (0600,
   never over another backup), then rewritten atomically without the adopted lines (each
   replaced by a comment), keeping its mode;
5. `.gitignore` — the secrets dir, `.env` and the state dir, as `init` adds them.
An interrupted run can be run again: the secret files it wrote hold the same values and the
manifest entries it wrote are recognised. The upstream compose files are only read.

Exit codes: 0 something adopted (or would be, with --dry-run); 1 nothing adoptable, or a secret
file that exists with a different value; 2 bad input (a compose file that does not parse, no
compose file); 3 a runtime failure (a full disk).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from titan_deploy.core.adopt import (
    AdoptInput,
    AdoptPlan,
    ComposeFile,
    env_file_paths,
    plan_adoption,
)
from titan_deploy.core.adopt_render import (
    plan_dict,
    plan_rows,
    secret_entries,
)
from titan_deploy.core.findings import Finding, Report, error, warning
from titan_deploy.core.manifest import Manifest, parse_manifest_text
from titan_deploy.core.overlay import base_compose, plan_overlay
from titan_deploy.errors import ConfigError
from titan_deploy.io import compose, composerun, fs
from titan_deploy.io.composefiles import load_compose_files
from titan_deploy.ops import adopt_write
from titan_deploy.project import Project

COLUMNS = ["secret", "kind", "action", "consumers", "from"]
DEFAULT_COMPOSE = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def run_adopt(
    project: Project,
    dry_run: bool = False,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    secrets_gid: int | None = None,
    compose_for: compose.ComposeFactory | None = None,
) -> Report:
    """Plan (and without `dry_run` carry out) the adoption; the report never holds a value.

    `include`: env names to adopt though only their value looks secret; `exclude`: env names
    never adopted (a name that is in no env file or `environment:` is exit 2, naming the
    candidates); `secrets_gid`: the secrets group written into a NEW manifest; `compose_for`:
    the compose runner (ops/stack.Backends.compose; default the installed Compose v2), asked
    for the merged config, the project name and the environment each service gets.
    ConfigError (exit 2) when Compose rejects the project."""
    manifest = _manifest(project)
    if manifest is not None and secrets_gid is not None and manifest.secrets_gid != secrets_gid:
        raise ConfigError(
            f"--secrets-gid {secrets_gid}: the manifest already says secrets_gid "
            f"{manifest.secrets_gid}; change it there"
        )
    gid = manifest.secrets_gid if manifest is not None else secrets_gid
    compose_files = _compose_files(project, manifest)
    seen = _ask_compose(project, compose_files, compose_for or compose.for_project)
    data = _input(project, manifest, compose_files, include, exclude, seen)
    dotenv, dotenv_display = _interpolation(project)
    data = replace(
        data,
        included=_included(project, compose_files, data),
        dotenv=dotenv,
        dotenv_display=dotenv_display,
    )
    plan, values = plan_adoption(data)
    _check_names(plan, "--include", data.include)
    _check_names(plan, "--exclude", data.exclude)
    conflicts, kept = _conflicts(project, plan, values)
    report = Report("adopt", columns=COLUMNS)
    report.rows = plan_rows(plan, _actions(plan, conflicts, kept, dry_run))
    report.findings += _findings(plan)
    report.findings += conflicts
    report.data = plan_dict(plan) | {"dry_run": dry_run, "written": []}
    report.data["manifest"] = _manifest_plan(project, manifest, plan)
    report.data["project_name"] = seen.name
    if not plan.secrets:
        report.failed = True
        report.summary = "nothing to adopt" + (
            f": {len(plan.refusals)} refused (see the table)" if plan.refusals else ""
        )
    elif report.errors:
        report.summary = "nothing written: a secret file exists with a different value"
    elif dry_run:
        _overlay_preflight(project, manifest, compose_files, plan, gid, data)
        for edit in plan.edits:  # the run would refuse these (exit 2): so does the dry run
            adopt_write.preflight(project, edit.file)
        report.summary = _summary(plan, "would adopt") + " (dry run: nothing written)"
    else:
        _overlay_preflight(project, manifest, compose_files, plan, gid, data)
        compose_of = compose_for or compose.for_project
        written = adopt_write.write(project, manifest, compose_files, plan, values, gid, compose_of)
        report.data["written"] = written
        report.data["env_edits"] = plan_dict(plan, adopt_write.backups_of(written))["env_edits"]
        report.summary = _summary(plan, "adopted") + f"; wrote {len(written)} file(s)"
    report.summary += _notes_line(plan)
    return report


def _overlay_preflight(
    project: Project,
    manifest: Manifest | None,
    compose_files: list[str],
    plan: AdoptPlan,
    gid: int | None,
    data: AdoptInput,
) -> None:
    """Plan the overlay for the manifest adopt would write, before anything is written: the
    overlay refuses (ConfigError, exit 2, names only) where taking a plain `X` out of a base
    `environment:` list would copy another entry that looks like a secret."""
    text = adopt_write.manifest_text(project, manifest, compose_files, plan, gid)
    if text is None:
        return
    planned = parse_manifest_text(text, str(project.manifest_option))
    base = base_compose([cf.doc.value for cf in data.compose])
    plan_overlay(planned, None, data.secrets_dir, base)


def _notes_line(plan: AdoptPlan) -> str:
    """The A005 notes as one line of the summary (the text report hides info findings)."""
    return f" — note: {'; '.join(plan.notes)}" if plan.notes else ""


def _actions(
    plan: AdoptPlan, conflicts: list[Finding], kept: set[str], dry_run: bool
) -> dict[str, str]:
    """What happens to each secret, for its table row: adopted, or why not."""
    blocked = {f.secret for f in conflicts}
    out = {}
    for s in plan.secrets:
        if s.name in blocked:
            out[s.name] = f"not written: {s.file} holds another value (A003)"
        elif blocked:
            out[s.name] = "not written: another secret file holds another value (A003)"
        else:
            verb = "would adopt" if dry_run else "adopted"
            out[s.name] = verb + (
                f" ({s.file} exists with this value: kept)" if s.name in kept else ""
            )
            out[s.name] += " (in manifest)" if s.existing else ""
    return out


def _check_names(plan: AdoptPlan, option: str, names: frozenset[str]) -> None:
    """ConfigError (exit 2) naming an `--include`/`--exclude` name that is in none of the
    project's env files or `environment:`s (a typo would otherwise be ignored), with the
    closest candidates."""
    import difflib

    for name in sorted(names - set(plan.names)):
        close = difflib.get_close_matches(name, plan.names, n=5, cutoff=0.6)
        candidates = close or sorted({n for s in plan.possible for n in s.names}) or plan.names
        listed = ", ".join(candidates[:8]) or "none"
        raise ConfigError(
            f"{option} {name}: no env var of that name in the project's env files or "
            f"environment: (candidates: {listed})"
        )


def _manifest_plan(project: Project, manifest: Manifest | None, plan: AdoptPlan) -> dict:
    """What happens to the manifest: created, merged (entries added under `secrets:`) or left
    unchanged, and the entries' YAML text (names only)."""
    new = [s for s in plan.secrets if not s.existing]
    action = "create" if manifest is None else "merge" if new else "unchanged"
    return {
        "file": str(project.manifest_option),
        "action": action,
        "entries": secret_entries(plan.secrets),
    }


def _summary(plan: AdoptPlan, verb: str) -> str:
    lines = sum(len(e.spans) for e in plan.edits)
    refused = f", {len(plan.refusals)} refused" if plan.refusals else ""
    return (
        f"{verb} {len(plan.secrets)} secret(s) from {len(plan.edits)} env file(s) "
        f"({lines} line(s)){refused}"
    )


# --- reading ------------------------------------------------------------------------------------


def _manifest(project: Project) -> Manifest | None:
    path = project.manifest_path
    if not path.exists() and not path.is_symlink():
        return None
    return project.manifest


def _compose_files(project: Project, manifest: Manifest | None) -> list[str]:
    if project.compose_file_options or manifest is not None:
        return project.compose_files
    for name in DEFAULT_COMPOSE:
        if project.path(name).is_file():
            return [name]
    raise ConfigError(
        f"no compose file in {project.project_dir} ({', '.join(DEFAULT_COMPOSE)}): name yours "
        "with -f, e.g. `titan-deploy -f docker-compose.prod.yml adopt --dry-run`"
    )


@dataclass(frozen=True)
class _Seen:
    """What Compose says of the project: its name and each service's environment as the
    container gets it (values in memory only; never shown)."""

    name: str
    environment: Mapping[str, Mapping[str, str]] = field(repr=False)


def _ask_compose(project: Project, files: list[str], compose_for: compose.ComposeFactory) -> _Seen:
    """The project name Compose resolves and the environment of each service (interpolated:
    exactly the values the containers get, `$$` unescaped), from ONE `config --format json`
    (it must accept the project). ConfigError (exit 2) when Compose rejects the files."""
    runner = compose_for(project.project_dir, files, project.project_name)
    try:
        command = getattr(runner, "command", None)  # a fake runner has none
        if command is None:
            runner.config()
            return _Seen(project.project_name or project.project_dir.name, {})
        doc = compose.interpolated(command)
        name = project.name if project.project_name else compose.name_and_services(doc)[0]
        return _Seen(name, _environments(doc))
    except composerun.ComposeRejected as exc:
        exc.message = f"compose rejects {', '.join(files)}: {exc.message}"
        exc.args = (exc.message,)
        raise


def _environments(doc: dict) -> dict[str, dict[str, str]]:
    """service -> env name -> value from the interpolated model (`config --format json`), whose
    values write `$` as `$$`; everything else in it is dropped at once."""
    services = doc.get("services") or {}
    out: dict[str, dict[str, str]] = {}
    for name, body in services.items() if isinstance(services, dict) else ():
        env = body.get("environment") if isinstance(body, dict) else None
        if isinstance(env, dict):
            out[str(name)] = {
                str(k): v.replace("$$", "$") for k, v in env.items() if isinstance(v, str)
            }
    return out


def _input(
    project: Project,
    manifest: Manifest | None,
    compose_files: list[str],
    include: Iterable[str],
    exclude: Iterable[str],
    seen: _Seen,
) -> AdoptInput:
    root = project.project_dir
    composes = tuple(
        ComposeFile(doc.display, doc.located, _base(root, doc.path))
        for doc in load_compose_files(root, compose_files)
    )
    env_files = {p: _read_text(project, p) for p in env_file_paths(composes)}
    secrets_dir = project.secrets_dir_rel if manifest is not None else _secrets_rel(project)
    return AdoptInput(
        compose=composes,
        env_files=env_files,
        dotenv=_read_text(project, ".env"),
        manifest=manifest,
        secrets_dir=secrets_dir,
        include=frozenset(include),
        exclude=frozenset(exclude),
        project_name=seen.name,
        compose_env=seen.environment,
    )


def _base(root: Path, path: Path) -> str:
    """The directory of compose file `path`, relative to the project dir `root` (posix, with
    `..` parts when outside it; "" for the project dir itself)."""
    rel = Path(os.path.relpath(path.parent, root)).as_posix()
    return "" if rel == "." else rel


def _included(
    project: Project, compose_files: list[str], data: AdoptInput
) -> tuple[ComposeFile, ...]:
    """The compose files Compose also reads through `include:` (io/composefiles) that `data`
    does not plan from: a `.env` variable one of them reads is not adopted (core/adopt.py)."""
    planned = {cf.display for cf in data.compose}
    docs = load_compose_files(project.project_dir, compose_files)
    return tuple(ComposeFile(d.display, d.located) for d in docs if d.display not in planned)


def _interpolation(project: Project) -> tuple[str | None, str]:
    """(the text, the project-relative name) of the env file Compose interpolates from
    (Project.interpolation_env_files: --env-file, else COMPOSE_ENV_FILES, else `.env`). Its
    text is None when it is missing, outside the project dir (adopt rewrites inside it only), or
    when there are several (adopt cannot tell which line Compose's value came from): then no
    interpolated value is adopted."""
    files = project.interpolation_env_files()
    path = files[0]
    inside = path.is_relative_to(project.project_dir)
    shown = path.relative_to(project.project_dir).as_posix() if inside else str(path)
    if len(files) != 1 or not inside:
        return None, shown
    return _read_text(project, shown), shown


def _secrets_rel(project: Project) -> str:
    option = project.secrets_dir_option
    if option is None:
        return "secrets"
    path = project.path(option).resolve()
    if not path.is_relative_to(project.project_dir):
        raise ConfigError(f"--secrets-dir {option} must be inside the project dir")
    return path.relative_to(project.project_dir).as_posix()


def _read_text(project: Project, relative: str) -> str | None:
    """An env file's text (bounded, regular files only), None when missing. One outside the
    project dir (an included compose file's, say) is read too, never written: core refuses its
    secrets, naming them, so that the operator edits that file by hand."""
    try:
        return fs.read_config(project.path(relative)).decode("utf-8")
    except FileNotFoundError:
        return None
    except fs.UnsafeFile as exc:
        raise ConfigError(f"{relative} {exc.reason}: adopt reads regular files only") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{relative}: not UTF-8 text") from None


# --- findings -------------------------------------------------------------------------------------


def _findings(plan: AdoptPlan) -> list[Finding]:
    out = [
        warning(
            r.code, f"{', '.join(r.names) or r.where} not adopted: {r.reason}", service=r.service
        )
        for r in plan.refusals
    ]
    out += [warning("A002", f"{', '.join(r.names)} ({r.where}): {r.reason}") for r in plan.possible]
    for s in plan.secrets:
        out += [warning("A004", f"{s.name}: {note}", secret=s.name) for note in s.notes]
    out += [Finding("info", "A005", note) for note in plan.notes]
    return out


def _conflicts(
    project: Project, plan: AdoptPlan, values: dict[str, bytes]
) -> tuple[list[Finding], set[str]]:
    """A003 for each existing secret file with a different value (adopt never overwrites a
    secret), and the secrets whose file exists with the same value (kept)."""
    out = []
    kept = set()
    for s in plan.secrets:
        path = project.path(s.file)
        try:
            current = fs.read_secret(path)
        except FileNotFoundError:
            continue
        except (fs.UnsafeFile, fs.TooLarge, OSError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            out.append(
                error("A003", f"{s.file} exists and cannot be compared: {reason}", secret=s.name)
            )
            continue
        if current.strip() == values[s.name].strip():
            kept.add(s.name)
        else:
            out.append(
                error(
                    "A003",
                    f"{s.file} exists with a different value: adopt never overwrites a secret",
                    secret=s.name,
                    fix=f"move {s.file} away (or `--exclude` its env names), then run adopt again",
                )
            )
    return out, kept
