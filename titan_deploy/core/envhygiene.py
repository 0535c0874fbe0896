"""`.env` hygiene (README "What `check-secrets` checks"): a local env file holding a production
secret's value, and an env file git tracks. Pure: the caller reads the files and asks git.

Values are compared as SHA-256 digests with a constant-time comparison; only the names of the
file, the line, the variable and the secret ever leave this module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from titan_deploy.core.dotenv import MIN_SECRET_LENGTH, assignments
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.secretvalue import is_placeholder
from titan_deploy.core.versions import owner

# env files meant to be committed: templates without real values
TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist", ".tpl")


def is_env_file(name: str) -> bool:
    """`.env` or `.env.<anything>` (a file name, not a path)."""
    return name == ".env" or (name.startswith(".env.") and len(name) > len(".env."))


def is_template(name: str) -> bool:
    """An env file meant to be committed (`.env.example`, `.env.sample`, ...)."""
    return name.endswith(TEMPLATE_SUFFIXES)


@dataclass(frozen=True)
class Digest:
    secret: str
    digest: bytes


def digests(
    values: Mapping[str, bytes], names: Iterable[str], skip: Collection[str] = ()
) -> list[Digest]:
    """The SHA-256 of each production value (`values`: file name in the secrets dir -> trimmed
    value; versions included), skipping values shorter than the search minimum, placeholders
    (an unfilled secret is not a production value) and the secrets named in `skip` (the
    manifest's `sensitive: false` configuration: a role name may rightly be in a `.env`)."""
    known = list(names)
    out = []
    for key, value in sorted(values.items()):
        secret = owner(key, known)
        value = value.strip()
        if secret is None or secret in skip:
            continue
        if len(value) < MIN_SECRET_LENGTH or is_placeholder(value, None):
            continue
        out.append(Digest(secret, hashlib.sha256(value).digest()))
    return out


@dataclass(frozen=True)
class Reuse:
    """`variable` on `line` of an env file equals production secret `secret`."""

    line: int
    variable: str
    secret: str


def reused(text: str, prod: list[Digest]) -> list[Reuse]:
    """Each assignment of the dotenv `text` whose value (trimmed) equals a production value."""
    out = []
    for item in assignments(text):
        if item.value is None:
            continue
        digest = hashlib.sha256(item.value.strip().encode("utf-8", "surrogateescape")).digest()
        match = None
        for candidate in prod:  # every candidate compared: the time says nothing of which
            if hmac.compare_digest(digest, candidate.digest) and match is None:
                match = candidate.secret
        if match is not None:
            out.append(Reuse(item.first, item.name, match))
    return out


def reuse_finding(shown: str, reuse: Reuse) -> Finding:
    """S025: `shown` (the env file as hints show it) holds a production value."""
    return error(
        "S025",
        f"{shown}:{reuse.line}: {reuse.variable} equals the production secret {reuse.secret}",
        secret=reuse.secret,
        file=shown,
        line=reuse.line,
        fix=f"give {reuse.variable} a development value in {shown}; if the file left this "
        f"machine, rotate {reuse.secret}",
    )


def tracked_finding(shown: str) -> Finding:
    """S026: git tracks the env file `shown`."""
    return warning(
        "S026",
        f"{shown} is tracked by git: env files hold local settings and often secrets",
        file=shown,
        fix=f"git rm --cached {shown}, add it to .gitignore (keep a {shown}.example instead)",
    )
