"""PEM test material made of random bytes: canaries shaped like real keys (none is a real key).

An Ed25519 PKCS#8 private key is a fixed 16-byte DER prefix + 32 random bytes: one base64 line
of 64 characters, as exchanges hand them out. `rsa_like_pem` has the shape of an RSA key (64-char
lines, a short last line); `cert_block` the shape of a certificate (public: not secret material).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def block(label: str, der: bytes) -> bytes:
    """One PEM block: BEGIN, base64 lines of 64 characters, END (no final newline)."""
    text = base64.b64encode(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()]
    )


def ed25519_pem() -> bytes:
    """A random Ed25519 private key in PKCS#8 PEM, with the final newline files have."""
    return block("PRIVATE KEY", ED25519_PREFIX + os.urandom(32)) + b"\n"


def rsa_like_pem(size: int = 1190) -> bytes:
    return block("RSA PRIVATE KEY", os.urandom(size)) + b"\n"


def cert_block(size: int = 700) -> bytes:
    return block("CERTIFICATE", os.urandom(size))


def openssl_key(algorithm: str = "ed25519", *options: str) -> bytes | None:
    """A real key from `openssl genpkey` (None without openssl): never leaves the test."""
    if shutil.which("openssl") is None:
        return None
    argv = ["openssl", "genpkey", "-algorithm", algorithm, *options]
    return subprocess.run(argv, capture_output=True, check=True).stdout
