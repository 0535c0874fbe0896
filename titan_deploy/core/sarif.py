"""A Report as a SARIF 2.1.0 log (README "SARIF"): the same findings `--json` prints, in the
OASIS format code-scanning tools and editors read. Pure: a Report (already scrubbed by the
reporter) in, a JSON-ready dict out.

One rule per finding code (its short description from `RULES`), one result per finding: level
error / warning / note, the finding's file and line as a physical location where it has them (a
file inside the project dir as a project-relative `uri` with `uriBaseId: PROJECTROOT`, the run's
`originalUriBaseIds` saying where PROJECTROOT is; a file outside it as an absolute `file://` URI),
its service and secret as logical locations, a manifest waiver as an `external` suppression with
the waiver's reason as justification. The log carries only what the report carries: names,
codes, messages — never a value.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from titan_deploy.core.findings import Finding, Report

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
VERSION = "2.1.0"
ROOT_ID = "PROJECTROOT"
"""The uriBaseId of the project dir: every file inside it is a uri relative to it."""
LEVELS = {"error": "error", "warning": "warning", "info": "note"}

# One short description per finding code (README "What `check-secrets` checks", "What `lint`
# checks", "What `verify` proves"); a code missing here is described by its code alone.
RULES: dict[str, str] = {
    "A001": "A secret value found in logs, container config or image history",
    "A002": "More leak hits than are listed",
    "A003": "A secret too short to search for",
    "A004": "A secrets-dir file that could not be searched",
    "A005": "A weak secret searched only as a whole word",
    "D001": "A secret file edited after a rotation: the edit never applies",
    "D002": "A database password changed after deploy: the database keeps the old one",
    "I001": "A secret still holds a placeholder",
    "I002": "A --from file not copied",
    "I003": ".gitignore could not be updated",
    "I004": "A SOPS key that is no manifest secret",
    "I005": "A SOPS value that cannot be imported (not text, or rejected by check-secrets)",
    "L001": "A secret in plain environment:",
    "L002": "X and X_FILE both set",
    "L003": "A manifest consumer is not a compose service",
    "L004": "A manifest secret no service consumes",
    "L005": "A compose secret the manifest does not know",
    "L006": "A consumer does not mount its secret",
    "L007": "A secret file outside the secrets dir",
    "L008": "An env var points under /run/secrets where nothing is mounted",
    "L009": "A *_FILE name the image does not read",
    "L010": "A secret variable interpolated outside environment:",
    "L011": "A secret's content put on a command line",
    "L012": "A secret's value in the compose config or an env file",
    "L013": "A required env_file cannot be read",
    "L014": "A secret not read from the manifest's file",
    "L015": "A literal value in a base compose file that the overlay replaces",
    "R001": "A rotation rolled back",
    "R002": "No auth guard during rotation",
    "R010": "A stale rotation lock",
    "R011": "An unfinished rotation",
    "R012": "A stale rotation lock was broken",
    "R013": "The manifest changed since the rotation was planned",
    "R020": "Revoke the old exchange key",
    "S001": "The secrets dir does not exist",
    "S002": "A secret file is missing or not a regular file",
    "S003": "A secret file is empty",
    "S004": "A secret file contains a NUL byte",
    "S005": "Whitespace around a secret value",
    "S006": "A secret does not match its kind",
    "S007": "A secret still holds a placeholder",
    "S008": "A secret file is too large",
    "S009": "A secret file's mode grants too much",
    "S010": "A secret file is not owned by the secrets group",
    "S011": "A secret file is tracked by git",
    "S012": "The secrets dir is not git-ignored",
    "S013": "Two secrets share one value",
    "S014": "A file in the secrets dir no manifest secret claims",
    "S015": "The secrets dir's mode grants too much",
    "S016": "The secrets dir is not owned by the secrets group",
    "S017": "The secrets dir is a symlink",
    "S018": "A secret file has more than one hard link",
    "S019": "A secret file is owned by another user",
    "S020": "git not found: git checks skipped",
    "S021": "A fix not applied to a mounted secret file",
    "S022": "A fix not applied",
    "S023": "A weak secret value",
    "V000": "A consumer service is not deployed",
    "V001": "A secret is not mounted",
    "V002": "The mounted content differs from the host file",
    "V003": "The reading process cannot read the secret",
    "V004": "A secret's value in a container's environment",
    "V005": "A consumer container is not running",
    "V006": "A secret's value in argv, healthcheck or labels",
    "V007": "X set beside X_FILE: the file is ignored",
    "V008": "A *_FILE under /run/secrets where nothing is mounted",
    "W001": "A waiver that matches no finding",
    "W002": "An expired waiver",
}


def sarif_log(report: Report, tool_version: str, root: str) -> dict[str, Any]:
    """The SARIF 2.1.0 log of `report` (one run, tool `titan-deploy` at `tool_version`). `root`
    is the project dir (an absolute path): a finding's `file`, relative to it or absolute, becomes
    a uri relative to PROJECTROOT when inside it, else an absolute `file://` URI."""
    codes = sorted({f.code for f in report.findings})
    index = {code: i for i, code in enumerate(codes)}
    run: dict[str, Any] = {
        "tool": {"driver": _driver(tool_version, codes, report.findings)},
        "invocations": [_invocation(report.command, report.exit_code)],
        "originalUriBaseIds": _base_ids(root),
        "results": [_result(f, index[f.code], root) for f in report.findings],
        "properties": {"command": report.command, "summary": report.summary},
    }
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": [run]}


def sarif_failure(
    command: str, message: str, exit_code: int, tool_version: str, root: str | None = None
) -> dict[str, Any]:
    """The SARIF log of a run that failed before it had findings (exit 2 or 3): no results, the
    one-line error as a tool execution notification; PROJECTROOT when the project dir is known
    (`root`, absolute; None before a project was read, e.g. a usage error)."""
    invocation = _invocation(command, exit_code)
    invocation["executionSuccessful"] = False
    invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": message}}]
    run: dict[str, Any] = {
        "tool": {"driver": _driver(tool_version, [], [])},
        "invocations": [invocation],
        "results": [],
        "properties": {"command": command},
    }
    if root is not None:
        run["originalUriBaseIds"] = _base_ids(root)
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": [run]}


def _base_ids(root: str) -> dict[str, Any]:
    """`originalUriBaseIds`: PROJECTROOT as the project dir's file URI (ending in `/`, as SARIF
    requires of a base)."""
    uri = PurePosixPath(_absolute(root)).as_uri()
    return {
        ROOT_ID: {
            "uri": uri if uri.endswith("/") else uri + "/",
            "description": {"text": "the project directory"},
        }
    }


def _driver(tool_version: str, codes: list[str], findings: list[Finding]) -> dict[str, Any]:
    level: dict[str, str] = {}
    for f in findings:
        level.setdefault(f.code, LEVELS.get(f.severity, "note"))
    rules = [
        {
            "id": code,
            "shortDescription": {"text": RULES.get(code, code)},
            "defaultConfiguration": {"level": level.get(code, "warning")},
        }
        for code in codes
    ]
    return {
        "name": "titan-deploy",
        "version": tool_version,
        "rules": rules,
    }


def _invocation(command: str, exit_code: int) -> dict[str, Any]:
    return {
        "executionSuccessful": exit_code in (0, 1),
        "exitCode": exit_code,
        "commandLine": f"titan-deploy {command}",
    }


def _result(finding: Finding, rule_index: int, root: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.severity, "note"),
        "message": {"text": finding.message},
    }
    locations = _locations(finding, root)
    if locations:
        result["locations"] = locations
    reason = getattr(finding, "waived", None)
    if reason is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": reason}
        ]
    properties = {
        key: value
        for key, value in (
            ("secret", finding.secret),
            ("service", finding.service),
            ("fix", finding.fix),
            ("stage", finding.stage),
            ("waivedUntil", getattr(finding, "waived_until", None)),
        )
        if value is not None
    }
    if properties:
        result["properties"] = properties
    return result


def _locations(finding: Finding, root: str) -> list[dict[str, Any]]:
    """The finding's file:line (physical) and its service / secret (logical), if any."""
    location: dict[str, Any] = {}
    file = getattr(finding, "file", None)
    if file:
        physical: dict[str, Any] = {"artifactLocation": artifact_location(file, root)}
        line = getattr(finding, "line", None)
        if isinstance(line, int) and line >= 1:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    logical = [
        {"name": name, "kind": kind}
        for name, kind in ((finding.service, "module"), (finding.secret, "resource"))
        if name
    ]
    if logical:
        location["logicalLocations"] = logical
    return [location] if location else []


def artifact_location(file: str, root: str) -> dict[str, str]:
    """A finding's `file` (relative to the project dir `root`, or absolute) as an
    artifactLocation: inside the project dir a relative uri with `uriBaseId` PROJECTROOT
    (normalised: `./a` and `sub/../a` are `a`), outside it (`../x`, `/var/log/x`) an absolute
    `file://` URI. Lexical only: nothing is resolved on a disk."""
    base = _absolute(root)
    full = _normal(posixpath.join(base, file))
    prefix = base.rstrip("/") + "/"
    if full.startswith(prefix):
        return {"uri": _relative_uri(full[len(prefix) :]), "uriBaseId": ROOT_ID}
    if full == base:
        return {"uri": "./", "uriBaseId": ROOT_ID}
    return {"uri": PurePosixPath(full).as_uri()}


def _absolute(root: str) -> str:
    """`root` normalised; ValueError for a relative one (the caller passes the resolved dir)."""
    if not posixpath.isabs(root):
        raise ValueError("the project dir must be an absolute path")
    return _normal(root)


def _normal(path: str) -> str:
    """An absolute path normalised lexically, one leading `/` (`//x` would be a URI's host)."""
    return "/" + posixpath.normpath(path).lstrip("/")


def _relative_uri(path: str) -> str:
    """A relative path as a URI reference: UTF-8 (a name that is not, byte for byte), every
    character a URI cannot hold percent-encoded (a space, `%`, `#`, `?`, `\\`, `:`)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/._-~")
