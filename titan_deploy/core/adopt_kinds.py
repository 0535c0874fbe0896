"""adopt's judgement of one value: the kind it derives from the names and the value, and the
problems check-secrets' own value checks (core/valuechecks) find in it (A006)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from titan_deploy.core.adopt_model import (
    AdoptInput,
    SecretPlan,
)
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.manifest_keys import DEFAULT_MAX, DEFAULT_MIN
from titan_deploy.core.secretvalue import kind_problem
from titan_deploy.core.valuechecks import Where, content_findings

_HEX = re.compile(r"[0-9a-fA-F]+")


class Group(Protocol):
    """One value and the env names it was found under (core/adopt_rules.Group)."""

    @property
    def value(self) -> str: ...

    @property
    def names(self) -> list[str]: ...


def value_problems(
    secret: SecretPlan, group: Group, data: AdoptInput, spec: SecretSpec | None
) -> tuple[str | None, list[str]]:
    """(why check-secrets would reject `secret`'s value (its own checks, core/valuechecks.py:
    NUL or CR, too large, more lines than its kind allows, invalid for its kind, a placeholder,
    weak for a strict kind, surrounding whitespace) or None, and its warnings as notes). Never
    a value in the text."""
    checked = spec or SecretSpec(
        name=secret.name,
        kind=secret.kind,
        consumers=(),
        min_length=DEFAULT_MIN[secret.kind],
        max_length=DEFAULT_MAX[secret.kind],
        bytes=secret.bytes,
        multiline=secret.multiline,
    )
    names = (secret.name, *(c.service for c in secret.consumers))
    names += (data.project_name,) if data.project_name else ()
    where = Where(shown=Path(data.secrets_dir), example_dir=None, example_label=None, names=names)
    shown = Path(f"the value of {', '.join(group.names)}")
    found = list(content_findings(checked, group.value.encode(), shown, where))
    errors = [f"{f.code} {f.message}" for f in found if f.severity == "error"]
    if errors:
        reason = (
            f"check-secrets would reject it as secret {secret.name} ({checked.kind}): "
            f"{'; '.join(errors)}; it stays where it is: fix the value (rotate it), then run "
            "adopt again"
        )
        return reason, []
    return None, [f"check-secrets warns: {f.code} {f.message}" for f in found]


def derive_kind(
    names: list[str], value: str, found: str
) -> tuple[str, int | None, bool, list[str]]:
    """(kind, bytes for hex, multiline, notes) for a value under `names`: the kind its names
    and shape say, or `text` when the value does not pass that kind's check."""
    raw = value.encode()
    if "\n" in value.strip():
        if value.lstrip().startswith("-----BEGIN"):
            return (
                ("pem", None, False, [])
                if kind_problem(_spec("pem"), raw) is None
                else ("text", None, True, [])
            )
        return "text", None, True, []
    upper = " ".join(names).upper()
    if found == "dsn":
        return "text", None, False, []
    if _HEX.fullmatch(value) and len(value) % 2 == 0 and 16 <= len(value) <= 2048:
        return "hex", len(value) // 2, False, []
    kind = "text"
    if re.search("PASSWORD|PASSWD|PASSPHRASE", upper):
        kind = "password"
    elif "TOKEN" in upper:
        kind = "token"
    elif re.search("SECRET|_KEY|APIKEY", upper):
        kind = "api-key"
    problem = kind_problem(_spec(kind), raw)
    if problem is not None:
        return "text", None, False, [f"kind text: the value is not a valid {kind} ({problem})"]
    return kind, None, False, []


def _spec(kind: str) -> SecretSpec:
    return SecretSpec(
        name="adopt",
        kind=kind,
        consumers=(),
        min_length=DEFAULT_MIN[kind],
        max_length=DEFAULT_MAX[kind],
    )
