"""`adopt`'s plan as text: the manifest entries, the manifest, the rewritten env files, the
table rows and the JSON document. PURE; nothing here sees a value.

Every name written into the manifest passed the manifest's own alphabets (core/adopt_rules.py
refuses the others) and every scalar is written JSON-quoted (valid YAML), so the text cannot say
more than the plan meant; the merged manifest is parsed again before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from titan_deploy.core.adopt import AdoptPlan, EnvEdit, SecretPlan
from titan_deploy.core.adopt_model import STAND_IN

HEADER = "# Written by `titan-deploy adopt`; edit freely (see the README's manifest reference).\n"
_SECRETS_LINE = re.compile(r"^secrets:[ \t]*(#.*)?$", re.MULTILINE)


def _q(value: object) -> str:
    return json.dumps(str(value))


def secret_entries(secrets: tuple[SecretPlan, ...], indent: str = "  ") -> str:
    """The manifest entries of the secrets that are new (not `existing`), as YAML text under a
    `secrets:` key, each line starting with `indent`."""
    lines: list[str] = []
    for s in (s for s in secrets if not s.existing):
        reads = ", ".join(sorted({r for c in s.consumers for r in c.reads}))
        places = ", ".join(sorted({v for c in s.consumers for v in c.via}))
        lines.append(f"{s.name}:")
        lines.append(f"  description: {_q(f'Adopted from {places} ({reads}).')}")
        lines.append(f"  kind: {s.kind}")
        if s.bytes is not None:
            lines.append(f"  bytes: {s.bytes}")
        if s.multiline:
            lines.append("  multiline: true")
        lines.append("  generate: false")
        lines.append("  rotation: restart")
        lines.append("  consumers:")
        for c in s.consumers:
            envs = _q(c.envs[0]) if len(c.envs) == 1 else f"[{', '.join(map(_q, c.envs))}]"
            lines.append(f"    {_q(c.service)}: {envs}")
    return "".join(f"{indent}{line}\n" for line in lines)


def new_manifest(
    plan: AdoptPlan,
    compose_files: list[str],
    overlay: str,
    secrets_dir: str,
    secrets_gid: int | None = None,
) -> str:
    """A whole manifest for a project that has none (`secrets_gid`: the secrets group)."""
    files = ", ".join(_q(f) for f in compose_files)
    gid = f"secrets_gid: {int(secrets_gid)}\n" if secrets_gid is not None else ""
    return (
        f"{HEADER}version: 1\ncompose_files: [{files}]\noverlay: {_q(overlay)}\n"
        f"secrets_dir: {_q(secrets_dir)}\n{gid}secrets:\n{secret_entries(plan.secrets)}"
    )


def merged_manifest(text: str, plan: AdoptPlan) -> str | None:
    """`text` (an existing manifest) with the new entries inserted right after its top-level
    `secrets:` line, keeping every other byte (comments too); None when it has no block-style
    `secrets:` line to insert under (then the entries are added by hand)."""
    entries = [s for s in plan.secrets if not s.existing]
    if not entries:
        return text
    match = _SECRETS_LINE.search(text)
    if match is None:
        return None
    rest = text[match.end() + 1 :]
    indent = re.match(r"([ \t]*)\S", next((ln for ln in rest.splitlines() if ln.strip()), "  x"))
    pad = indent.group(1) if indent and indent.group(1) else "  "
    head = text[: match.end()] + "\n"
    return head + secret_entries(plan.secrets, pad) + rest


def rewrite_env(text: str, edit: EnvEdit) -> str:
    """The env file without the lines of `edit` (each replaced by one comment naming where the
    value went); every other line byte for byte."""
    lines = text.splitlines(keepends=True)
    gone: dict[int, int] = {}  # first line -> last line
    for first, last in edit.spans:
        gone[first] = max(last, gone.get(first, first))
    out: list[str] = []
    number = 1
    while number <= len(lines):
        if number in gone:
            name = re.match(r"\s*(?:export\s+)?([A-Za-z0-9_.\-\[\]]+)", lines[number - 1])
            label = name.group(1) if name else "a secret"
            out.append(f"# {label}: moved to a secret file by titan-deploy adopt\n")
            if label in edit.stand_in:  # still interpolated upstream (the overlay resets it)
                out.append(f"{label}={STAND_IN}\n")
            number = gone[number] + 1
            continue
        out.append(lines[number - 1])
        number += 1
    return "".join(out)


def plan_rows(plan: AdoptPlan, actions: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One table row per adopted secret and per refusal: never a value. `actions`: secret ->
    what actually happens to it (ops/adopt.py knows: adopted, kept, not written and why)."""
    rows = []
    for s in plan.secrets:
        default = "adopt" + (" (in manifest)" if s.existing else "")
        rows.append(
            {
                "secret": s.name,
                "kind": s.kind,
                "action": (actions or {}).get(s.name, default),
                "consumers": "; ".join(f"{c.service}: {', '.join(c.envs)}" for c in s.consumers),
                "from": ", ".join(s.sources),
            }
        )
    for r in plan.refusals:
        rows.append(
            {
                "secret": ", ".join(r.names) or "-",
                "kind": "-",
                "action": "refused" + (f" ({r.code})" if r.code != "A001" else ""),
                "consumers": r.service or "-",
                "from": r.where,
            }
        )
    return rows


def plan_dict(plan: AdoptPlan, backups: dict[str, str] | None = None) -> dict[str, Any]:
    """The plan as JSON data (the report's `data`): secrets, files, edits, refusals."""
    return {
        "secrets": [
            {
                "name": s.name,
                "kind": s.kind,
                "bytes": s.bytes,
                "found_by": s.found_by,
                "file": s.file,
                "in_manifest": s.existing,
                "sources": list(s.sources),
                "consumers": [
                    {
                        "service": c.service,
                        "env": list(c.envs),
                        "reads": list(c.reads),
                        "via": list(c.via),
                        "resets": list(c.resets),
                    }
                    for c in s.consumers
                ],
                "notes": list(s.notes),
            }
            for s in plan.secrets
        ],
        "files": [s.file for s in plan.secrets],
        "env_edits": [
            {
                "file": e.file,
                "remove_lines": [list(span) for span in e.spans],
                "names": list(e.names),
                "stand_in": list(e.stand_in),
                "backup": (backups or {}).get(e.file),
            }
            for e in plan.edits
        ],
        "refused": [_refusal(r) for r in plan.refusals],
        "possible": [_refusal(r) for r in plan.possible],
        "notes": list(plan.notes),
    }


def _refusal(r: Any) -> dict[str, Any]:
    return {"names": list(r.names), "where": r.where, "service": r.service, "reason": r.reason}
