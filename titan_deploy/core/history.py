"""The history of state-changing commands (README "History"): its records and their hash chain.

Pure: no clock, no disk. `io/history.py` appends and reads the file; the CLI boundary
(`cli/boundary.py`) builds one record per state-changing command from the command's result.

A record is one line of canonical JSON (sorted keys, no spaces, ASCII):

    {"v": 1, "seq": N, "when": "2026-11-29T17:00:00Z",
     "who": {"user": ..., "uid": ..., "host": ...[, "sudo_user": ...]},
     "command": "render", "options": {flag: bool|int, ...},
     "what": {"secrets": [...], "versions": {secret: N}, "services": [...], ...},
     "outcome": {"exit_code": 0, "ok": true[, "error": "ConfigError"]},
     "prev": <hash of record N-1, GENESIS for the first>, "hash": <sha256 of this record>}

`hash` is the SHA-256 (hex) of the canonical JSON of the record without its `hash` key. The
head (`Head`: the count and the last hash, kept in a separate file) lets `verify_chain` tell a
removed tail, which the chain alone cannot. A record holds names, numbers and flags only:
never a value (`what_of` takes only names and version numbers from the report).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from titan_deploy.core.findings import Report

FORMAT = 1
GENESIS = "0" * 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:/ -]{0,199}")
_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Head:
    """The last record as the head file names it: how many records, and the last one's hash."""

    count: int
    hash: str


EMPTY = Head(0, GENESIS)


@dataclass(frozen=True)
class Problem:
    """One integrity problem `verify_chain` found; `line` is 1-based (0: the head file)."""

    line: int
    message: str


def canonical(obj: Any) -> bytes:
    """The canonical JSON bytes of `obj` (sorted keys, no whitespace, ASCII)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(record: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of `record`'s canonical JSON without its `hash` key."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def new_record(
    head: Head,
    *,
    when: str,
    who: Mapping[str, Any],
    command: str,
    options: Mapping[str, Any],
    what: Mapping[str, Any],
    outcome: Mapping[str, Any],
) -> dict[str, Any]:
    """The record following `head` (seq = head.count + 1, prev = head.hash), its hash set."""
    record: dict[str, Any] = {
        "v": FORMAT,
        "seq": head.count + 1,
        "when": when,
        "who": dict(who),
        "command": command,
        "options": dict(options),
        "what": dict(what),
        "outcome": dict(outcome),
        "prev": head.hash,
    }
    record["hash"] = digest(record)
    return record


def line_of(record: Mapping[str, Any]) -> bytes:
    """The record as it is appended: its canonical JSON and a newline (one write)."""
    return canonical(record) + b"\n"


def head_after(record: Mapping[str, Any]) -> Head:
    """The head once `record` is the last one."""
    return Head(int(record["seq"]), str(record["hash"]))


def options_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The command's flags and numbers (bools and ints only: never a string, which might be
    anything the operator typed)."""
    return {k: v for k, v in sorted(params.items()) if isinstance(v, bool | int) and v is not None}


def what_of(report: Report) -> dict[str, Any]:
    """What a command's result says it touched: secret and service names, version numbers,
    the project, a rotation's procedure and outcome. Only names (a short identifier shape) and
    integers are taken; anything else in the report is ignored."""
    data = report.data
    secrets = _names([r.get("secret") for r in report.rows], _list(data.get("secrets")))
    services = _names([r.get("service") for r in report.rows], _list(data.get("services")))
    what: dict[str, Any] = {"secrets": secrets, "services": services}
    versions = data.get("versions")
    if isinstance(versions, Mapping):
        what["versions"] = {
            str(k): v
            for k, v in sorted(versions.items())
            if _is_name(k) and isinstance(v, int) and not isinstance(v, bool)
        }
    for key in ("project", "procedure", "outcome"):
        if _is_name(data.get(key)):
            what[key] = data[key]
    for key in ("changed", "dry_run", "volumes_removed"):
        if isinstance(data.get(key), bool):
            what[key] = data[key]
    if isinstance(data.get("fixed"), list):
        what["fixed"] = len(data["fixed"])
    return what


def outcome_of(exit_code: int, error: str | None = None) -> dict[str, Any]:
    """The outcome part of a record: the exit code, ok, and the kind of failure (a class name:
    never a message, which could name anything)."""
    out: dict[str, Any] = {"exit_code": exit_code, "ok": exit_code == 0}
    if error is not None:
        out["error"] = error
    return out


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _names(*groups: Iterable[Any]) -> list[str]:
    return sorted({v for group in groups for v in group if _is_name(v)})


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


# --- verification ------------------------------------------------------------------------------


def parse_line(line: bytes) -> dict[str, Any] | None:
    """A record from one line, None if it is not one (not JSON, not an object, no seq/hash)."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    if type(doc.get("seq")) is not int or not isinstance(doc.get("hash"), str):
        return None
    if not isinstance(doc.get("prev"), str):
        return None
    return doc


def parse_head(text: bytes) -> Head | None:
    """The head from its file's bytes, None if malformed."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    count, value = doc.get("count"), doc.get("hash")
    if type(count) is not int or count < 0 or not isinstance(value, str):
        return None
    if not _HASH.fullmatch(value) and value != GENESIS:
        return None
    return Head(count, value)


def head_text(head: Head) -> bytes:
    """The head file's bytes."""
    return canonical({"count": head.count, "hash": head.hash}) + b"\n"


def last_head(lines: list[bytes]) -> Head:
    """The head the log's own last record implies (EMPTY for an empty log). Raises ValueError
    when the last line is not a record."""
    if not lines:
        return EMPTY
    record = parse_line(lines[-1])
    if record is None:
        raise ValueError("the last line of the history is not a record")
    return head_after(record)


def verify_chain(lines: list[bytes], head: Head | None) -> list[Problem]:
    """Every integrity problem of the log `lines` against the `head` (None: no head file).

    Found: a line that is not a record, a record whose content does not match its hash
    (edited), one that does not follow the record before it (one removed between them, or
    reordered), and a log that ends before or after the record the head names (its tail
    removed, or appended without the head)."""
    problems: list[Problem] = []
    expected = EMPTY
    for number, line in enumerate(lines, start=1):
        record = parse_line(line)
        if record is None:
            problems.append(Problem(number, f"line {number}: not a history record (edited)"))
            expected = Head(expected.count + 1, "")
            continue
        seq = record["seq"]
        if digest(record) != record["hash"]:
            problems.append(
                Problem(
                    number,
                    f"line {number} (record {seq}): edited — its content does not match its hash",
                )
            )
        elif record["prev"] != expected.hash or seq != expected.count + 1:
            problems.append(Problem(number, _break(number, seq, expected)))
        expected = head_after(record)
    problems.extend(_head_problems(len(lines), expected, head))
    return problems


def _break(number: int, seq: int, expected: Head) -> str:
    if seq > expected.count + 1:
        return (
            f"line {number} (record {seq}): record(s) {expected.count + 1}"
            f"{'' if seq == expected.count + 2 else f'..{seq - 1}'} removed before it"
        )
    return (
        f"line {number} (record {seq}): does not follow the record before it — records "
        "reordered, or one removed or replaced before it"
    )


def _head_problems(count: int, last: Head, head: Head | None) -> list[Problem]:
    if head is None:
        if count == 0:
            return []
        return [
            Problem(0, "the history head file is missing: a removed last record cannot be detected")
        ]
    if head.count > last.count:
        missing = head.count - last.count
        return [
            Problem(
                0,
                f"the history head names {head.count} record(s) but the log ends at record "
                f"{last.count}: the last {missing} record(s) were removed",
            )
        ]
    if head.count < last.count:
        return [
            Problem(
                0,
                f"the history has record(s) after record {head.count}, the last its head "
                "names: appended without the head (a crash mid-append, or added by hand)",
            )
        ]
    if head.hash != last.hash:
        return [
            Problem(
                0,
                f"the last history record ({last.count}) is not the one the head names: edited "
                "or replaced",
            )
        ]
    return []
