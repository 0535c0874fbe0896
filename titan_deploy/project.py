"""Where things are: the project dir, its manifest, secrets dir, compose files and state dir.

Built once from the global options; commands receive it instead of re-deriving paths. The
manifest is loaded lazily (and once), so `--help` and option errors never touch the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from titan_deploy.core.manifest import Manifest, load_manifest
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
        return self.path(self.secrets_dir_option or self.manifest.secrets_dir)

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
        return self.path(self.manifest.overlay)

    @property
    def state_dir(self) -> Path:
        return self.path(self.manifest.state_dir)

    def all_compose_files(self) -> list[str]:
        """The compose files plus the overlay: what `up`, `lint` and `verify` deploy."""
        files = self.compose_files
        overlay = self.manifest.overlay
        return files if overlay in files else [*files, overlay]
