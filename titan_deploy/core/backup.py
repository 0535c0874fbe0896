"""Break-glass copies (README "Break-glass copies"): the names of the age-encrypted copies kept
in the state dir and the identities of an age key file. Pure: no file, no crypto here (io/age.py
encrypts, ops/backup.py and ops/restore.py read and write).

A copy of version N of secret `name` is `<state_dir>/backups/<name>.v<N>.age` (the base file:
`<name>.age`); version names come from core/versions.py like every other version name.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from titan_deploy.core.versions import file_name, parse_file

BACKUP_DIR = "backups"
SUFFIX = ".age"
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"


def backup_name(secret: str, version: int | None) -> str:
    """The copy's file name in the backups dir (`version` None: the base file)."""
    return file_name(secret, version) + SUFFIX


def parse_backup(entry: str, names: Collection[str]) -> tuple[str, int | None] | None:
    """(secret, version) of a copy's file name, None for anything else."""
    if not entry.endswith(SUFFIX):
        return None
    return parse_file(entry[: -len(SUFFIX)], names)


def identities(lines: Iterable[str]) -> list[str]:
    """The age identities (`AGE-SECRET-KEY-1...`) of an identity file's lines; comments (`#`)
    and blank lines skipped. Empty when the file holds none."""
    out = []
    for line in lines:
        text = line.strip()
        if text.upper().startswith(IDENTITY_PREFIX):
            out.append(text)
    return out


def parse_version(text: str) -> int | None:
    """`--version`: `base` (None) or a positive version number. Raises ValueError otherwise."""
    if text == "base":
        return None
    if not text.isdigit() or text.startswith("0"):
        raise ValueError(text)
    return int(text)
