"""Waivers (README "Waivers"): the manifest's `waivers:` list accepts a lint or check-secrets
finding, with a required reason, optionally until a date.

A waived finding no longer fails the run but stays in every report, marked with its reason
(`Finding.waived`). A waiver that matches nothing (W001) or has expired (W002; it then waives
nothing) is itself a warning. Findings that are facts about a value rather than judgements —
verify's proof, audit-logs' leaks, edits that never apply, a secret's value found in a file, a
secret file missing or wrong — can never be waived: the manifest refuses such a waiver (exit 2).

Pure: the manifest parser calls `parse_waivers`; ops call `apply_waivers` with today's date.
"""

from __future__ import annotations

import dataclasses
import datetime
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from titan_deploy.core.findings import Finding, warning
from titan_deploy.core.manifest_validate import Validator
from titan_deploy.core.yamlpos import KeyPath

DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # `expires`: YYYY-MM-DD only
WAIVER_KEYS = {"code", "service", "secret", "file", "reason", "expires"}
SCOPE_KEYS = ("service", "secret", "file")
CODE_RE = re.compile(r"^[A-Z][0-9]{3}$")
MAX_REASON = 500
MAX_SCOPE = 255

WAIVABLE_FAMILIES = {"L": "lint", "S": "check-secrets"}
"""Code prefix -> the command whose findings a waiver may accept (and judges it stale)."""

NEVER_BY_FAMILY = {
    "V": "verify proves what the running containers hold",
    "A": "audit-logs found a secret's value",
    "D": "an edit of a secret file that will never reach a container",
    "W": "a problem with a waiver itself",
}
NEVER = {
    "L012": "a secret's value is in a config or env file",
    "S001": "the secret file is missing",
    "S002": "the secret file cannot be read safely",
    "S003": "the secret file is empty",
    "S004": "the secret's value is malformed (NUL, CR, several lines)",
    "S006": "the secret's value does not match its kind",
    "S007": "the secret still holds a placeholder",
    "S008": "the secret file is too large for Docker",
    "S011": "the secret file is tracked by git (its value is in the history)",
    "S025": "a production secret's value is in a .env file",
}
"""Codes no waiver may accept, with why: truth about a value, not style."""


@dataclass(frozen=True)
class Waiver:
    """One accepted finding: its `code` and where it applies (every scope given must equal the
    finding's), why (`reason`), until when (`expires`, inclusive), and its manifest `line`."""

    code: str
    reason: str
    service: str | None = None
    secret: str | None = None
    file: str | None = None
    expires: datetime.date | None = None
    line: int = 1

    def matches(self, finding: Finding) -> bool:
        """Whether `finding` has this code and every scope this waiver names."""
        if finding.code != self.code:
            return False
        if self.service is not None and finding.service != self.service:
            return False
        if self.secret is not None and finding.secret != self.secret:
            return False
        return self.file is None or _norm(finding.file) == self.file

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        """`L011 for service redis` (names only, from the manifest)."""
        scope = ", ".join(f"{k} {getattr(self, k)}" for k in SCOPE_KEYS if getattr(self, k))
        return f"{self.code} for {scope}"


def refusal(code: str) -> str | None:
    """Why a finding `code` can never be waived, or None when it can."""
    if code in NEVER:
        return f"{code} cannot be waived: {NEVER[code]} (a fact, not a judgement)"
    family = code[:1]
    if family in NEVER_BY_FAMILY:
        return f"{code} cannot be waived: {NEVER_BY_FAMILY[family]} (a fact, not a judgement)"
    if family not in WAIVABLE_FAMILIES:
        return f"{code} cannot be waived: only lint (L...) and check-secrets (S...) findings can"
    return None


# --- parsing (called once by core/manifest.py) ---------------------------------------------


def parse_waivers(v: Validator, top: dict[str, Any]) -> tuple[Waiver, ...]:
    """The manifest's top-level `waivers:` list as Waivers (empty when absent). Raises
    ConfigError (exit 2) `file:line: waivers[i].key: problem` for a waiver without a reason, a
    scope or a valid code, a code that can never be waived, or a bad `expires`."""
    raw = v.get((), top, "waivers", list, [])
    return tuple(_waiver(v, ("waivers", i), item) for i, item in enumerate(raw))


def _waiver(v: Validator, path: KeyPath, item: Any) -> Waiver:
    if not isinstance(item, dict):
        raise v.doc.error(path, "must be a mapping (code, where it applies, reason)")
    v.known_keys(path, item, WAIVER_KEYS)
    code = v.get(path, item, "code", str, required=True)
    if not CODE_RE.match(code):
        raise v.doc.error((*path, "code"), "should be a finding code such as L011")
    why_not = refusal(code)
    if why_not:
        raise v.doc.error((*path, "code"), why_not)
    reason = v.get(path, item, "reason", str, None)
    reason = " ".join((reason or "").split())
    if not reason:
        raise v.doc.error(path, "a waiver needs a non-empty `reason` (why the finding is accepted)")
    if len(reason) > MAX_REASON:
        raise v.doc.error((*path, "reason"), f"longer than {MAX_REASON} characters")
    scope = {key: _scope(v, path, item, key) for key in SCOPE_KEYS}
    if not any(scope.values()):
        raise v.doc.error(path, "a waiver needs where it applies: service, secret and/or file")
    return Waiver(
        code=code,
        reason=reason,
        expires=_expires(v, path, item),
        line=v.doc.line(path),
        **scope,
    )


def _scope(v: Validator, path: KeyPath, item: dict, key: str) -> str | None:
    value = v.get(path, item, key, str, None)
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_SCOPE or not value.isprintable():
        raise v.doc.error((*path, key), f"should be a {key} name (printable, one line)")
    return _norm(value) if key == "file" else value


def _expires(v: Validator, path: KeyPath, item: dict) -> datetime.date | None:
    value = item.get("expires")
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and DATE_RE.fullmatch(value):  # the schema's pattern too
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise v.doc.error((*path, "expires"), "should be a date YYYY-MM-DD")


def _norm(path: str | None) -> str | None:
    return None if path is None else posixpath.normpath(path)


# --- applying -------------------------------------------------------------------------------


def apply_waivers(
    findings: Iterable[Finding],
    waivers: Iterable[Waiver],
    family: str,
    today: datetime.date,
    manifest: str = "secrets.manifest.yml",
) -> list[Finding]:
    """`findings` with every one an active waiver matches marked waived (its reason), then a
    warning per waiver of this `family` ("L" lint, "S" check-secrets) that has expired (W002:
    it waives nothing) or matched nothing (W001). `today`: the local date (a waiver is active
    through its `expires` day); `manifest`: its name as the warnings show it. Codes that can
    never be waived stay as they are, whatever the waivers say."""
    mine = [w for w in waivers if w.code.startswith(family)]
    active = [w for w in mine if not w.expired(today)]
    used: set[int] = set()
    out: list[Finding] = []
    for finding in findings:
        hit = _first(finding, active)
        if hit is not None:
            used.add(id(hit))
            finding = _waive(finding, hit)
        out.append(finding)
    for waiver in mine:
        if waiver.expired(today):
            out.append(_expired(waiver, manifest))
        elif id(waiver) not in used:
            out.append(_stale(waiver, manifest))
    return out


def _first(finding: Finding, active: list[Waiver]) -> Waiver | None:
    if finding.severity == "info" or finding.waived is not None or refusal(finding.code):
        return None
    return next((w for w in active if w.matches(finding)), None)


def _waive(finding: Finding, waiver: Waiver) -> Finding:
    until = waiver.expires.isoformat() if waiver.expires else None
    return dataclasses.replace(finding, waived=waiver.reason, waived_until=until)


def _expired(waiver: Waiver, manifest: str) -> Finding:
    assert waiver.expires is not None
    return dataclasses.replace(
        warning(
            "W002",
            f"the waiver of {waiver.describe()} expired on {waiver.expires.isoformat()}: it "
            "waives nothing any more",
            fix="fix the finding, or renew the waiver with a new `expires` and reason",
        ),
        file=manifest,
        line=waiver.line,
    )


def _stale(waiver: Waiver, manifest: str) -> Finding:
    return dataclasses.replace(
        warning(
            "W001",
            f"the waiver of {waiver.describe()} matches no finding (stale)",
            fix="remove it from the manifest's `waivers:`",
        ),
        file=manifest,
        line=waiver.line,
    )
