"""What compose would read, checked before it runs (ARCHITECTURE.md invariant 4): a compose file
with an alias bomb, an env file that is a FIFO or a device. Compose reads them whole and without
bounds; these refuse them first with one line naming the file (ConfigError, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from titan_deploy.errors import ConfigError


def check_compose_file(path: Path, display: str) -> None:
    """ConfigError if the YAML file `path` exceeds the alias/nesting bounds; a file that cannot
    be read is left to compose (it says so itself)."""
    from titan_deploy.core.yamlpos import check_bounds
    from titan_deploy.io import fs

    try:
        data = fs.read_config(path)  # bounded; a FIFO or a device is refused, never opened
    except FileNotFoundError:
        return
    except (fs.UnsafeFile, fs.TooLarge) as exc:
        raise ConfigError(f"{display}: {_why(exc)}: refused (compose would hang on it)") from None
    except OSError:
        return
    check_bounds(data.decode("utf-8", "replace"), display)


def check_env_files(
    project_dir: Path, compose_files: Sequence[Path], explicit: Sequence[Path] = ()
) -> None:
    """ConfigError if an env file compose would read (`.env`, COMPOSE_ENV_FILES, every
    `env_file:`) exists but is not a regular file of at most MAX_CONFIG_BYTES: compose reads
    it whole and blocks on a FIFO, or fills memory from `/dev/zero`. Missing ones are left to
    compose (an optional env file may be absent)."""
    from titan_deploy.io import fs
    from titan_deploy.io.knownvalues import env_files

    for path in [*env_files(project_dir, compose_files), *explicit]:
        try:
            fs.require_regular(path)
        except FileNotFoundError:
            continue
        except (fs.UnsafeFile, fs.TooLarge) as exc:
            shown = os.path.relpath(path, project_dir)
            raise ConfigError(f"env file {shown}: {_why(exc)}: refused") from None
        except OSError:
            continue


def _why(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return reason if reason else str(exc)
