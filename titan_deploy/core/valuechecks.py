"""What a secret file's CONTENT must be (README "What `check-secrets` checks"): kind,
placeholder, whitespace, weakness.

No effects but a bounded read of the example file, and never quotes a value: findings name the
file as shown (`Where`), hints name the configured secrets and example dirs. `core/checks.py`
runs these for every manifest secret beside the file-level checks (existence, mode, owner,
links, git).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from titan_deploy.core.fileread import read_bounded
from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.core.limits import LIMIT_TEXT, MAX_SECRET_BYTES
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.secretvalue import (
    STRICT_WHITESPACE_KINDS,
    is_placeholder,
    kind_problem,
    trimmed,
    weakness,
    whitespace_ok,
)


@dataclass(frozen=True)
class Where:
    """How paths are shown in findings and hints, and the names a value must not equal."""

    shown: Path  # the secrets dir as shown
    example_dir: Path | None
    example_label: str | None  # the example dir as shown, when it has a README
    names: tuple[str, ...]


def example_label(example_dir: Path | None, label: str | None) -> str | None:
    if example_dir is None or not (example_dir / "README.md").is_file():
        return None
    return label or example_dir.name


def content_findings(spec: SecretSpec, raw: bytes, path: Path, where: Where) -> Iterable[Finding]:
    name = spec.name
    if len(raw) > MAX_SECRET_BYTES:
        yield error("S008", f"{path} is too large: over {LIMIT_TEXT}", secret=name)
        return
    if not raw.strip():
        yield error("S003", f"{path} is empty or whitespace only", secret=name)
        return
    if b"\x00" in raw:
        yield error("S004", f"{path} contains a NUL byte", secret=name)
        return
    if b"\r" in raw:
        yield error("S004", f"{path} contains a carriage return (CRLF line ending?)", secret=name)
        return
    value = trimmed(raw)
    if b"\n" in value and not spec.is_multiline:
        yield error(
            "S004", f"{path} has more than one line", secret=name, fix=_multiline_fix(value)
        )
        return
    if not whitespace_ok(raw, spec.is_multiline):
        yield _whitespace_finding(spec, path)
    # configuration (sensitive: false) may rightly equal its example (a role name) or be a word
    example = _example(where.example_dir, name) if spec.sensitive else None
    if is_placeholder(value, example):
        yield error(
            "S007",
            f"{path} still holds a placeholder",
            secret=name,
            fix=missing_fix(spec, where),
        )
        return
    problem = kind_problem(spec, value)
    if problem:
        yield error("S006", f"{path}: {spec.kind} {problem}", secret=name)
        return
    weak = _weak_finding(spec, value, path, where)
    if weak:
        yield weak


def _multiline_fix(value: bytes) -> str:
    if value.startswith(b"-----BEGIN "):
        return "keys and certificates: set `kind: pem` in the manifest"
    return "if the value really spans lines: set `kind: text` and `multiline: true` in the manifest"


def _whitespace_finding(spec: SecretSpec, path: Path) -> Finding:
    """Surrounding whitespace: services that trim and services that do not read two values."""
    fix = "titan-deploy check-secrets --fix (strips it)"
    if spec.is_multiline:
        return warning(
            "S005",
            f"{path} has whitespace before or after its content (one final newline is normal)",
            secret=spec.name,
            fix=fix,
        )
    make = error if spec.kind in STRICT_WHITESPACE_KINDS else warning
    return make(
        "S005",
        f"{path} starts or ends with whitespace (space, tab or newline): services that trim "
        "it and services that do not read two different values",
        secret=spec.name,
        fix=fix,
    )


WEAK_IS_ERROR = ("password", "hex", "token", "api-key")
"""Kinds for which a weak value is an error (a warning for single-line text; the lines of pem and
multi-line text are judged one by one when searched for, not here)."""


def _weak_finding(spec: SecretSpec, value: bytes, path: Path, where: Where) -> Finding | None:
    if spec.is_multiline or not spec.sensitive:
        return None
    reason = weakness(value, where.names)
    if reason is None:
        return None
    make = error if spec.kind in WEAK_IS_ERROR else warning
    return make(
        "S023",
        f"{path}: {spec.kind} is weak ({reason}): guessable, and too common to search for in "
        "logs (audit-logs and verify match it only as a whole word)",
        secret=spec.name,
        fix=_weak_fix(spec),
    )


def _weak_fix(spec: SecretSpec) -> str:
    if spec.generate:
        return "rotate it to a generated value (or remove the file and run titan-deploy init)"
    return "replace it with a long random value (e.g. `openssl rand -base64 32`)"


def _example(example_dir: Path | None, name: str) -> bytes | None:
    if example_dir is None:
        return None
    try:
        return read_bounded(example_dir / name, MAX_SECRET_BYTES)
    except OSError:  # missing, unreadable, too large, not a plain file: no example to compare
        return None


def missing_fix(spec: SecretSpec, where: Where) -> str:
    if spec.generate:
        return "titan-deploy init (generates it)"
    hint = f"write the value into {spec.path_in(where.shown)}"
    if where.example_label:
        hint += f" (see {where.example_label}/README.md)"
    return hint
