"""Where things are: the project dir, its manifest, secrets dir, compose files and state dir,
and the compose project name.

Built once from the global options; commands receive it instead of re-deriving paths. The
manifest and the project name are resolved lazily (and once), so `--help` and option errors
never touch the disk. `name` is the one owner of the compose project name: `-p` as given, else
what Compose itself resolves (`config --format json`), else, without Compose, the same rule
computed here (core/projectname.py); `rule_name` is that rule alone (check-secrets runs no
subprocess).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from titan_deploy.core import projectname
from titan_deploy.core.manifest import Manifest, load_manifest, overlay_conflict
from titan_deploy.errors import ConfigError, RuntimeFailure


@dataclass
class Project:
    project_dir: Path = Path(".")
    manifest_option: Path = Path("secrets.manifest.yml")
    secrets_dir_option: Path | None = None
    compose_file_options: list[str] = field(default_factory=list)
    project_name: str | None = None  # `-p` as given; the resolved name is `name`
    profiles: list[str] = field(default_factory=list)  # --profile, passed to every compose call
    env_file_options: list[str] = field(default_factory=list)  # --env-file, relative to the dir
    swarm_option: bool = False  # --swarm (README "Several hosts")
    _active: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.project_name:  # Compose refuses it anyway: say so before any command runs
            projectname.require_valid(self.project_name, "-p")
        for profile in self.profiles:
            projectname.require_profile(profile)
        if not self.project_dir.is_dir():
            raise ConfigError(f"project dir {self.project_dir} does not exist")
        self.project_dir = self.project_dir.resolve()

    @property
    def env_files(self) -> list[Path]:
        """--env-file as absolute paths (relative ones from the project dir): Compose reads
        these instead of `<project dir>/.env`."""
        return [Path(os.path.abspath(self.path(f))) for f in self.env_file_options]

    @property
    def compose_options(self) -> dict[str, tuple[str, ...]]:
        """--profile and --env-file as keyword arguments of io/compose.command_for/for_project."""
        return {
            "profiles": tuple(self.profiles),
            "env_files": tuple(str(p) for p in self.env_files),
        }

    @property
    def swarm(self) -> bool:
        """Whether this run deploys with Docker Swarm: `--swarm`, else the manifest's
        `deploy: {engine: swarm}` (core/manifest_deploy.py)."""
        return self.swarm_option or self.manifest.deploy.engine == "swarm"

    @property
    def stack_overlay_path(self) -> Path:
        """Where the swarm path renders the stack overlay (the manifest's
        `deploy.stack_overlay`). ConfigError (exit 2) when that is a compose file, the compose
        overlay, the manifest, or inside the secrets or state dir."""
        shown = self.manifest.deploy.stack_overlay
        target = self.path(shown)
        mine = Path(os.path.realpath(target))
        taken = [*self.compose_files, self.manifest.overlay, str(self.manifest_option)]
        if mine in {Path(os.path.realpath(self.path(f))) for f in taken} or any(
            mine.is_relative_to(os.path.realpath(d)) for d in (self.secrets_dir, self.state_dir)
        ):
            raise ConfigError(
                f"{self.manifest_option}: deploy.stack_overlay: {shown} is a file the tool must "
                "not overwrite; name another (e.g. docker-stack.secrets.yml)"
            )
        return target

    def path(self, relative: str | Path) -> Path:
        return self.project_dir / relative

    @cached_property
    def manifest_path(self) -> Path:
        return self.path(self.manifest_option)

    @cached_property
    def manifest(self) -> Manifest:
        display = str(self.manifest_option)
        return load_manifest(self.manifest_path, display=display)

    @property
    def secrets_dir(self) -> Path:
        """--secrets-dir, else the manifest's secrets_dir: absolute, `..` resolved lexically."""
        chosen = self.secrets_dir_option or self.manifest.secrets_dir
        return Path(os.path.abspath(self.path(chosen)))

    @property
    def secrets_dir_rel(self) -> str:
        if self.secrets_dir_option is None:
            return self.manifest.secrets_dir
        try:
            return str(self.secrets_dir.relative_to(self.project_dir))
        except ValueError:
            raise ConfigError(
                f"--secrets-dir {self.secrets_dir_option} must be inside the project dir "
                "(the overlay names it relative to the compose files)"
            ) from None

    @property
    def example_dir(self) -> Path:
        return self.path(self.manifest.example_dir)

    @property
    def compose_files(self) -> list[str]:
        return list(self.compose_file_options or self.manifest.compose_files)

    @property
    def overlay_path(self) -> Path:
        """Where `render` writes. ConfigError (exit 2) when that is a file the tool must never
        overwrite: a compose file (-f included), the manifest (--manifest included), the
        secrets dir (--secrets-dir included) or the state dir, compared as resolved paths."""
        overlay = self.manifest.overlay
        target = self.path(overlay)
        problem = self._overlay_conflict(target)
        if problem:
            raise ConfigError(
                f"{self.manifest_option}: overlay: {overlay} {problem}; name another file "
                "(e.g. docker-compose.secrets.yml)"
            )
        return target

    def _overlay_conflict(self, target: Path) -> str | None:
        manifest = self.manifest
        # `-f` may name the overlay itself (it is deployed last either way): only OTHER files count
        mine = os.path.abspath(target)
        others = [f for f in self.compose_files if os.path.abspath(self.path(f)) != mine]
        lexical = overlay_conflict(
            manifest.overlay, others, self._rel(self.secrets_dir), manifest.state_dir
        )
        if lexical:
            return lexical
        real = Path(os.path.realpath(target))
        if real in {Path(os.path.realpath(self.path(f))) for f in others}:
            return "is (a link to) a compose file: render would overwrite it"
        if real == Path(os.path.realpath(self.manifest_path)):
            return "is (a link to) the manifest: render would overwrite it"
        for what, directory in (("secrets", self.secrets_dir), ("state", self.state_dir)):
            if real.is_relative_to(os.path.realpath(directory)):
                return f"is (a link) inside the {what} dir: render would overwrite it"
        return None

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project_dir))
        except ValueError:
            return str(path)

    @property
    def secrets_root(self) -> Path | None:
        """The root writes into the secrets dir are confined to: the project dir when the
        secrets dir is inside it (no symlink anywhere below), else None (an outside
        --secrets-dir: only its last component is checked)."""
        secrets_dir = self.secrets_dir
        return self.project_dir if secrets_dir.is_relative_to(self.project_dir) else None

    @property
    def state_dir(self) -> Path:
        return self.path(self.manifest.state_dir)

    def all_compose_files(self) -> list[str]:
        """The compose files plus the overlay: what `up`, `lint` and `verify` deploy."""
        files = self.compose_files
        overlay = self.manifest.overlay
        return files if overlay in files else [*files, overlay]

    @cached_property
    def name(self) -> str:
        """The compose project name, resolved once per run: `-p` (validated as compose does),
        else what Compose resolves for these files (COMPOSE_PROJECT_NAME in the environment or
        `.env`, the interpolated `name:`, the normalised dir name), else `rule_name` when no
        Compose v2 is installed. ConfigError when compose rejects the name or the files;
        ComposeError/RuntimeFailure (exit 3) when compose times out or fails otherwise."""
        if self.project_name:
            return projectname.require_valid(self.project_name, "-p")
        from titan_deploy.io import compose, composerun

        try:
            base = composerun.find_compose()
        except RuntimeFailure:  # no Compose v2 here: the same rule, computed without it
            return self.rule_name
        # the overlay may not be rendered yet: it never names the project anyway
        files = [f for f in self.all_compose_files() if self.path(f).exists()]
        command = compose.command_for(
            self.project_dir, files or self.compose_files, None, base, **self.compose_options
        )
        name, services = compose.resolved(command)
        if self._active is None:
            self._active = frozenset(services)
        return name

    def active_services(self, compose_for: Callable[..., Any] | None = None) -> frozenset[str]:
        """The services Compose makes active with this run's profiles (`--profile`, else
        COMPOSE_PROFILES): `config --services`, asked once per run through `compose_for` (an
        io/compose.ComposeFactory; default the real one with this run's options), or taken
        from the call that resolved `name`. ConfigError when compose rejects the files;
        RuntimeFailure (exit 3) without Compose v2."""
        if self._active is None:
            from titan_deploy.io import compose

            files = [f for f in self.all_compose_files() if self.path(f).exists()]
            if compose_for is None:
                runner = compose.for_project(
                    self.project_dir, files, self.project_name, **self.compose_options
                )
            else:
                runner = compose_for(self.project_dir, files, self.project_name)
            self._active = frozenset(runner.services())
        return self._active

    @cached_property
    def rule_name(self) -> str:
        """The project name by Compose's rule (core/projectname.py) without running Compose:
        reads `.env` (or COMPOSE_ENV_FILES) and each compose file's `name:`. ConfigError when a
        compose file cannot be parsed or the name is invalid."""
        from titan_deploy.core.dotenv import _dotenv_pairs  # compose-go's dotenv grammar
        from titan_deploy.core.yamlscalar import top_level_scalar
        from titan_deploy.io import fs

        dotenv: dict[str, str] = {}
        for path in self.interpolation_env_files():
            try:
                text = fs.read_config(path).decode("utf-8", "replace")
            except OSError:
                continue
            dotenv.update((k, v[0]) for k, v, _ in _dotenv_pairs(text) if v is not None)
        names = []
        for file in self.all_compose_files():
            path = self.path(file)
            names.append(top_level_scalar(path, "name", display=file) if path.exists() else None)
        return projectname.resolve(
            self.project_name, os.environ, dotenv, names, self.project_dir.name
        )

    def interpolation_env_files(self) -> list[Path]:
        """The env files Compose interpolates from for this run: --env-file, else
        COMPOSE_ENV_FILES, else `<project dir>/.env`."""
        return interpolation_env_files(self.project_dir, os.environ, self.env_files)


def interpolation_env_files(
    project_dir: Path, environ: Mapping[str, str], explicit: Sequence[Path] = ()
) -> list[Path]:
    """The env files compose interpolates from: `explicit` (--env-file) when given, else
    COMPOSE_ENV_FILES (comma-separated, relative to the working dir, as compose resolves them),
    else `<project dir>/.env`."""
    if explicit:
        return list(explicit)
    listed = [p.strip() for p in environ.get("COMPOSE_ENV_FILES", "").split(",") if p.strip()]
    if listed:
        return [Path(p).absolute() for p in listed]
    return [project_dir / ".env"]
