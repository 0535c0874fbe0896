"""A secret's age (README "What `check-secrets` checks"): how old its current value is, and
whether it is older than the manifest's `max_age_days`.

Pure: the caller gives the current file's modification time and the clock. The current file is
the version the journal assigns (`<name>.v<N>`, the highest any consumer uses), else the base
file `<name>`: a rotation writes each version file once and never rewrites it, so its mtime is
when that value was made; a base file's mtime is when its value was last written (`init`, the
operator, a rotation's sync).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from titan_deploy.core.findings import Finding, warning

DAY_SECONDS = 86400


@dataclass(frozen=True)
class SecretAge:
    """One secret's age: `file` is the current file's name in the secrets dir, `age_days`
    whole days since its mtime (0 for a file from the future: a clock skew is not an age)."""

    secret: str
    file: str
    age_days: int
    max_age_days: int | None

    @property
    def too_old(self) -> bool:
        return self.max_age_days is not None and self.age_days > self.max_age_days

    def to_dict(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "file": self.file,
            "age_days": self.age_days,
            "max_age_days": self.max_age_days,
            "too_old": self.too_old,
        }


def current_version(assignments: Mapping[str, Mapping[str, Any]], secret: str) -> int | None:
    """The version of `secret` its consumers use (the highest assigned), None for the base."""
    versions = [a.version for a in assignments.get(secret, {}).values() if a.version is not None]
    return max(versions) if versions else None


def age_days(mtime: float, now: float) -> int:
    """Whole days from `mtime` to `now` (both epoch seconds); never negative."""
    return max(0, int((now - mtime) // DAY_SECONDS))


def age_findings(ages: Iterable[SecretAge], label: str) -> list[Finding]:
    """A warning (S024) for each secret older than its `max_age_days`; `label` is the secrets
    dir as hints show it ("": each `file` names its whole location, a backend's entry)."""
    return [
        warning(
            "S024",
            f"{label + '/' if label else ''}{a.file} is {a.age_days} days old; max_age_days is "
            f"{a.max_age_days}",
            secret=a.secret,
            fix="rotate it (`titan-deploy rotate ...`, see the runbook) or raise max_age_days",
        )
        for a in ages
        if a.too_old
    ]


def oldest_text(ages: Iterable[SecretAge]) -> str:
    """`oldest secret: NAME, N day(s)` for a summary line; "" without any age."""
    known = sorted(ages, key=lambda a: (-a.age_days, a.secret))
    if not known:
        return ""
    oldest = known[0]
    return f"oldest secret: {oldest.secret}, {oldest.age_days} day(s)"
