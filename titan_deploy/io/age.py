"""age encryption in memory (pyrage: the Rust `age` library), for the break-glass copies (README
"Break-glass copies"). Plaintext never touches a file here: bytes in, bytes out. Errors are
fixed sentences: nothing of a key or a value reaches a message."""

from __future__ import annotations

from collections.abc import Sequence

from titan_deploy.errors import ConfigError, RuntimeFailure


def encrypt(data: bytes, recipients: Sequence[str]) -> bytes:
    """`data` encrypted to every age X25519 recipient (`age1...`). Raises ConfigError (exit 2)
    for a recipient age cannot read, RuntimeFailure (exit 3) if encryption fails."""
    import pyrage
    from pyrage import x25519

    try:
        keys = [x25519.Recipient.from_str(r) for r in recipients]
    except Exception:
        raise ConfigError("backup.recipients: not a valid age recipient") from None
    try:
        return bytes(pyrage.encrypt(data, keys))
    except Exception:
        raise RuntimeFailure("age encryption failed") from None


def decrypt(blob: bytes, identities: Sequence[str], shown: str) -> bytes:
    """`blob` (an age file's bytes, named `shown` in errors) decrypted with the first identity
    that opens it. Raises ConfigError (exit 2) when none does or one is malformed."""
    import pyrage
    from pyrage import x25519

    try:
        keys = [x25519.Identity.from_str(i) for i in identities]
    except Exception:
        raise ConfigError("the identity file holds a malformed age identity") from None
    try:
        return bytes(pyrage.decrypt(blob, keys))
    except Exception:
        raise ConfigError(f"{shown}: no identity in the identity file can decrypt it") from None
