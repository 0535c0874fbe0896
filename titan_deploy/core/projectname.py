"""The compose project name by Compose v2's rule, without Compose (PURE).

`titan_deploy.project.Project.name` asks Compose itself (`config --format json` prints the
name it resolved); this rule is the fallback where Compose must not run (`check-secrets`) or
cannot (not installed). Compose's order (compose-go `withNamePrecedenceLoad`, `projectName`):

1. `-p` / `--project-name` (must already be a valid name: compose refuses `My_App`);
2. `COMPOSE_PROJECT_NAME` in the environment, else in the project dir's `.env` (same check);
3. the last non-empty top-level `name:` of the compose files, interpolated from the environment
   and `.env`, then normalised;
4. the project directory's base name, normalised.

Normalised: lower-cased, every character but `a-z 0-9 _ -` dropped, leading `_`/`-` dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from titan_deploy.errors import ConfigError

ENV_NAME = "COMPOSE_PROJECT_NAME"
_VALID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DROP = re.compile(r"[^a-z0-9_-]")
_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def normalize(text: str) -> str:
    """`text` as compose normalises a derived name (`My_Proj.X` -> `my_projx`); may be ''."""
    return _DROP.sub("", text.lower()).lstrip("_-")


def require_valid(name: str, source: str) -> str:
    """`name` if compose accepts it as given (`-p`, COMPOSE_PROJECT_NAME), else ConfigError
    (exit 2) saying what Compose needs and, when there is one, the name it would accept."""
    if not _VALID.fullmatch(name):
        suggestion = normalize(name)
        hint = f": use {suggestion!r}" if suggestion and _VALID.fullmatch(suggestion) else ""
        raise ConfigError(
            f"{source} {name!r}: invalid project name (compose needs lowercase letters, digits, "
            f"`-` and `_`, starting with a letter or a digit){hint}"
        )
    return name


_PROFILE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*|\*")


def require_profile(profile: str) -> str:
    """`profile` if Compose accepts it as a `--profile` (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`, or `*`
    for all), else ConfigError (exit 2)."""
    if not _PROFILE.fullmatch(profile):
        raise ConfigError(
            f"--profile {profile!r}: invalid profile name (letters, digits, `_`, `.` and `-`, "
            "starting with a letter or a digit; `*` enables every profile)"
        )
    return profile


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
    `${VAR+alt}`, `${VAR:?err}`, `${VAR?err}` and `$$` replaced as compose does (one level: a
    default holding another `${...}` is not expanded). An unset variable is ''; a `?` form
    whose variable is missing raises ConfigError."""

    def one(match: re.Match[str]) -> str:
        if match["bare"]:
            return env.get(match["bare"], "")
        if match["braced"] is None:
            return "$"
        part = _BRACED.fullmatch(match["braced"])
        if part is None:
            raise ConfigError(f"name: invalid interpolation ${{{match['braced']}}}")
        value, op, arg = env.get(part["name"]), part["op"] or "", part["arg"] or ""
        present = value is not None and (value != "" or not op.startswith(":"))
        if op.endswith("-"):
            return value if present and value is not None else arg
        if op.endswith("+"):
            return arg if present else ""
        if op.endswith("?") and not present:
            raise ConfigError(f"name: required variable {part['name']} is missing: {arg}")
        return value or ""

    return _VAR.sub(one, text)


def resolve(
    option: str | None,
    environ: Mapping[str, str],
    dotenv: Mapping[str, str],
    file_names: Iterable[object],
    directory: str,
) -> str:
    """The project name by the rule above. `environ`: the process environment; `dotenv`: the
    project's `.env` variables; `file_names`: each compose file's top-level `name:` value (None
    when absent), in `-f` order; `directory`: the project dir's base name. ConfigError for an
    invalid `-p`/COMPOSE_PROJECT_NAME or when nothing yields a name."""
    if option:
        return require_valid(option, "-p")
    env = {**dotenv, **environ}  # the process environment wins over `.env`
    if env.get(ENV_NAME):
        return require_valid(env[ENV_NAME], ENV_NAME)
    named = ""
    for value in file_names:
        if isinstance(value, str) and value:
            named = value
    name = normalize(interpolate(named, env)) or normalize(directory)
    if not name:
        raise ConfigError(f"project dir {directory!r} gives no compose project name: pass -p NAME")
    return name
