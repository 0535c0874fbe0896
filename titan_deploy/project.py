"""Where things are: the project dir, its manifest, secrets dir, compose files and state dir.

Built once from the global options; commands receive it instead of re-deriving paths. The
manifest is loaded lazily (and once), so `--help` and option errors never touch the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from titan_deploy.core.manifest import Manifest, load_manifest, overlay_conflict
from titan_deploy.errors import ConfigError


@dataclass
class Project:
    project_dir: Path = Path(".")
    manifest_option: Path = Path("secrets.manifest.yml")
    secrets_dir_option: Path | None = None
    compose_file_options: list[str] = field(default_factory=list)
    project_name: str | None = None

    def __post_init__(self) -> None:
        if not self.project_dir.is_dir():
            raise ConfigError(f"project dir {self.project_dir} does not exist")
        self.project_dir = self.project_dir.resolve()

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
