"""Break-glass copies (README "Break-glass copies"): the names of the age-encrypted copies kept
in the state dir, the identities of an age key file, and whether a manifest recipient is an age
X25519 public key (its bech32 checksum, checked when the manifest loads, not first at backup
time). Pure: no file, no crypto here (io/age.py encrypts, ops/backup.py and ops/restore.py read
and write).

A copy of version N of secret `name` is `<state_dir>/backups/<name>.v<N>.age` (the base file:
`<name>.age`); version names come from core/versions.py like every other version name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from titan_deploy.core.versions import file_name, parse_file

BACKUP_DIR = "backups"
SUFFIX = ".age"
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"

# bech32 (BIP 173), as age writes its X25519 recipients: `age1` + 52 data characters (32 bytes
# and 4 padding bits) + a 6-character checksum
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


def is_age_recipient(text: str) -> bool:
    """Whether `text` is an age X25519 recipient (`age1...`, lower case) that age itself parses:
    the bech32 alphabet and length and a valid checksum (the 4 padding bits after the key's 256
    are not checked: age ignores them too). A mistyped or truncated key fails here, as it would
    at backup time (pyrage agrees: tests/unit/core/test_age_recipients.py)."""
    if not _RECIPIENT.fullmatch(text):
        return False
    values = [_BECH32.index(c) for c in text[4:]]
    return _polymod([*_hrp_expand("age"), *values]) == 1


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _polymod(values: Iterable[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATOR):
            if top >> i & 1:
                check ^= generator
    return check


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
