"""The Compose v2 driver: argv built as data, and the runner the ops are given (ARCHITECTURE.md
"Layers", invariant 4).

`ComposeCommand` methods return argv lists and do no I/O, so tests compare them with literal
lists. `Compose` is the runner the ops are given (ops/stack.py `Backends`): tests give a fake one.
Processes are started only by io/composerun.py (`run`, `run_config`: typed failures,
`ComposeRejected` exit 2, `ComposeTimeout` / `ComposeUnreachable` / `ComposeError` exit 3); what
compose would read is bounded first by io/composeinputs.py. No secret value ever appears in argv:
compose reads secrets from the files the overlay names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from titan_deploy.errors import RuntimeFailure
from titan_deploy.io import composerun
from titan_deploy.io.composeinputs import check_compose_file, check_env_files

ALL_PROFILES = ("*",)
"""`--profile *`: Compose enables every profile."""


@dataclass(frozen=True)
class ComposeCommand:
    """Builds compose argv for one project: base binary, files, project dir and name."""

    base: tuple[str, ...]
    files: tuple[str, ...]
    project_dir: str
    project_name: str | None = None
    profiles: tuple[str, ...] = field(default_factory=tuple)
    env_files: tuple[str, ...] = field(default_factory=tuple)  # --env-file, absolute

    def _prefix(self, profiles: Sequence[str] | None = None) -> list[str]:
        argv = [*self.base, "--project-directory", self.project_dir]
        for file in self.files:
            argv += ["-f", file]
        if self.project_name:
            argv += ["-p", self.project_name]
        for profile in self.profiles if profiles is None else profiles:
            argv += ["--profile", profile]
        for env_file in self.env_files:
            argv += ["--env-file", env_file]
        return argv

    def config(self) -> list[str]:
        """The merged model, interpolation off, of EVERY profile's services (`--profile *`):
        lint judges the files, whichever profiles a deploy enables."""
        return [*self._prefix(ALL_PROFILES), "config", "--no-interpolate", "--format", "json"]

    def config_interpolated(self) -> list[str]:
        return [*self._prefix(), "config", "--format", "json"]

    def services(self) -> list[str]:
        """The services the given profiles make active (Compose's own selection)."""
        return [*self._prefix(), "config", "--services"]

    def validate(self) -> list[str]:
        """Compose's own check of the merged files (interpolated, as it would deploy them)."""
        return [*self._prefix(), "config", "--quiet"]

    def up(self, timeout: int, services: Sequence[str] = (), build: bool = False) -> list[str]:
        """`up -d --wait`; `build`: build the images of services with `build:` first
        (`--build`), else never (`--no-build`). Never pulls."""
        argv = [*self._prefix(), "up", "--detach", "--wait", "--wait-timeout", str(timeout)]
        argv += ["--remove-orphans", "--pull", "never"]
        argv.append("--build" if build else "--no-build")
        return [*argv, *services]

    def up_no_deps(
        self,
        timeout: int,
        services: Sequence[str],
        stop_timeout: int | None = None,
        force: bool = False,
    ) -> list[str]:
        """Recreate just these services (rotation: one consumer at a time). `stop_timeout`:
        seconds a replaced container gets to stop (compose's --timeout; default 10). `force`:
        even when their config is unchanged (`up`: a secret file's content changed)."""
        argv = [*self._prefix(), "up", "--detach", "--wait", "--wait-timeout", str(timeout)]
        if stop_timeout is not None:
            argv += ["--timeout", str(stop_timeout)]
        if force:
            argv.append("--force-recreate")
        return [*argv, "--no-deps", "--pull", "never", "--no-build", *services]

    def down(self, volumes: bool = False, timeout: int = 10) -> list[str]:
        argv = [*self._prefix(), "down", "--remove-orphans", "--timeout", str(timeout)]
        return [*argv, "--volumes"] if volumes else argv


@dataclass(frozen=True)
class Compose:
    """The compose runner an op is given: one project's command, run through `run`. Tests
    substitute a fake with the same methods (tests/fakes.py)."""

    command: ComposeCommand

    def config(self) -> dict:
        """The merged model of every profile, interpolation off. ComposeRejected (exit 2) if
        compose refuses it."""
        return merged_config(self.command)

    def services(self) -> list[str]:
        """The services active with this project's profiles, as Compose selects them.
        ComposeRejected (exit 2) if compose refuses the files."""
        done = composerun.run_config(self.command.services())
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def validate(self) -> None:
        """Compose's `config --quiet` of the files: None when valid, else ComposeRejected
        (exit 2) whose message is compose's last stderr line (the CLI scrubs it)."""
        composerun.run_config(self.command.validate())

    def up(
        self,
        timeout: int,
        on_tick: Callable[[], None] | None = None,
        build: bool = False,
    ) -> None:
        """`up -d --wait` of the whole project (`build`: with `--build`); ComposeError (exit 3)
        when it fails."""
        composerun.run(
            self.command.up(timeout, build=build),
            what="docker compose up",
            timeout=timeout + 60,
            on_tick=on_tick,
        )

    def recreate(
        self,
        timeout: int,
        services: Sequence[str],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        """`up -d --wait --no-deps --force-recreate` of these services, so they read their
        secret files again (compose recreates nothing when only a file's content changed);
        waits up to `timeout` seconds for them to be healthy. ComposeError (exit 3)."""
        composerun.run(
            self.command.up_no_deps(timeout, services, force=True),
            what=f"recreate {', '.join(services)}",
            timeout=timeout + 60,
            on_tick=on_tick,
        )

    def down(self, volumes: bool = False, timeout: int = 30) -> None:
        """`down --remove-orphans` (and its volumes); ComposeError (exit 3) when it fails."""
        composerun.run(
            self.command.down(volumes=volumes), what="docker compose down", timeout=timeout + 120
        )


ComposeFactory = Callable[[Path, Sequence[str], str | None], Compose]
"""(project dir, compose files, project name or None) -> the runner: `for_project` (with the
run's --profile/--env-file bound, ops/stack.real), or a fake."""


def for_project(
    project_dir: Path,
    files: Sequence[str],
    project_name: str | None = None,
    *,
    profiles: Sequence[str] = (),
    env_files: Sequence[str] = (),
) -> Compose:
    """The real runner for a project's files (`command_for`: finds Compose v2, checks the files)."""
    return Compose(
        command_for(project_dir, files, project_name, profiles=profiles, env_files=env_files)
    )


def command_for(
    project_dir: Path,
    files: Sequence[str],
    project_name: str | None = None,
    base: tuple[str, ...] | None = None,
    *,
    profiles: Sequence[str] = (),
    env_files: Sequence[str] = (),
) -> ComposeCommand:
    """The ComposeCommand for a project (finds the v2 binary once per call, unless `base`).
    `profiles`, `env_files`: the run's `--profile` and `--env-file` (absolute paths), passed to
    every call.

    Each file is first checked for an alias bomb or a recursive alias (core.yamlpos bounds):
    compose expands aliases without limit and would spin for minutes. ConfigError names the
    file and line."""
    for file in files:
        check_compose_file(Path(project_dir, file), file)
    explicit = [Path(project_dir, f) for f in env_files]
    check_env_files(Path(project_dir), [Path(project_dir, f) for f in files], explicit)
    return ComposeCommand(
        base=base or composerun.find_compose(),
        files=tuple(str(Path(project_dir, f)) for f in files),
        project_dir=str(project_dir),
        project_name=project_name,
        profiles=tuple(profiles),
        env_files=tuple(str(Path(project_dir, f)) for f in env_files),
    )


def resolved(command: ComposeCommand) -> tuple[str, list[str]]:
    """(project name, active services) as Compose resolves them for these files and options
    (the name: `-p`, COMPOSE_PROJECT_NAME in the environment or `.env`/--env-file, the
    interpolated `name:`, the directory; the services: those the profiles enable). Interpolation
    is on: the JSON may hold `.env` values, so only these names are kept and the rest dropped."""
    return name_and_services(interpolated(command))


def interpolated(command: ComposeCommand) -> dict:
    """The merged model of the active profiles with interpolation ON (one `config --format
    json`): it holds `.env` values, so a caller keeps only what it needs, in memory.
    ComposeRejected (exit 2) if compose refuses the files; RuntimeFailure if it prints no JSON
    object."""
    done = composerun.run_config(command.config_interpolated())
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise RuntimeFailure("docker compose config printed something that is not JSON")
    return doc


def name_and_services(doc: dict) -> tuple[str, list[str]]:
    """(project name, services) of an `interpolated` model. RuntimeFailure when it names no
    project."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise RuntimeFailure("docker compose config printed no project name")
    services = doc.get("services")
    return name, sorted(str(s) for s in services) if isinstance(services, dict) else []


def merged_config(command: ComposeCommand) -> dict:
    """The merged compose model with interpolation OFF (values stay `${VAR}`)."""
    done = composerun.run_config(command.config())
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise RuntimeFailure("docker compose config printed something that is not JSON") from None
