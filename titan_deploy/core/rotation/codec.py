"""The journal's JSON form: steps, assignments, manifest entries, Active, PendingPhase2,
HistoryRecord and Journal to and from plain dicts (io/journal.py writes them to `state.json`).

The format is fixed (journals written by earlier versions load: tests/unit/core/rotation/journals/).
Reading is strict: a `*_from_dict` raises KeyError, TypeError or ValueError on anything it would not
write, and names and env vars that reach the overlay are checked as the manifest checks them;
io/journal.py turns any of these into one exit-2 line naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from titan_deploy.core.manifest import Consumer, ProvisionSpec, SecretSpec
from titan_deploy.core.manifest_model import Proof, Reload
from titan_deploy.core.manifest_reload import MAX_ARGS, SIGNALS
from titan_deploy.core.manifest_validate import ENV_RE, NAME_RE, plain_path
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.journal import (
    Active,
    HistoryRecord,
    Journal,
    PendingPhase2,
    parse_iso,
)
from titan_deploy.core.rotation.procedures import PROCEDURES
from titan_deploy.core.rotation.steps import STEP_TYPES, Assignments, Change, Repoint, Step


def spec_to_dict(spec: SecretSpec) -> dict[str, Any]:
    """A manifest entry as the journal keeps it (never a value: the manifest holds none)."""
    return {
        "name": spec.name,
        "description": spec.description,
        "kind": spec.kind,
        "consumers": [_consumer_to_dict(c) for c in spec.consumers],
        "min_length": spec.min_length,
        "max_length": spec.max_length,
        "bytes": spec.bytes,
        "pattern": spec.pattern,
        "generate": spec.generate,
        "rotation": spec.rotation,
        "verify_log": spec.verify_log,
        "group": spec.group,
        "secondary_env": spec.secondary_env,
        "key_id_env": spec.key_id_env,
        "finish_after_hours": spec.finish_after_hours,
        "provision": None
        if spec.provision is None
        else {
            "kind": spec.provision.kind,
            "service": spec.provision.service,
            "role": spec.provision.role,
        },
        # only when set, so a journal of a manifest without them stays what it was
        **({"file": spec.file} if spec.file else {}),
        **({"sensitive": False} if not spec.sensitive else {}),
        **({"probe": list(spec.probe)} if spec.probe else {}),
        **({"template": spec.template, "inputs": list(spec.inputs)} if spec.is_config else {}),
    }


def _consumer_to_dict(consumer: Consumer) -> dict[str, Any]:
    """A consumer as the journal keeps it; `also` only when it names more env vars, so a journal
    of a single-env manifest stays byte for byte what it was."""
    out: dict[str, Any] = {"service": consumer.service, "env": consumer.env, "role": consumer.role}
    if consumer.also:
        out["also"] = list(consumer.also)
    if consumer.target:
        out["target"] = consumer.target
    if consumer.reload.how != "restart":
        r = consumer.reload
        out["reload"] = {"signal": r.signal} if r.how == "signal" else {"exec": list(r.command)}
    if consumer.proof is not None:
        out["proof"] = {"log": consumer.proof.log, "probe": list(consumer.proof.probe)}
    return out


def _reload_from_dict(raw: Any) -> Reload:
    """A consumer's reload as the journal keeps it (absent: restart); ValueError otherwise."""
    if raw is None:
        return Reload()
    if isinstance(raw, dict) and raw.get("signal") in SIGNALS:
        return Reload("signal", signal=raw["signal"])
    if isinstance(raw, dict) and "exec" in raw:
        return Reload("exec", command=_command(raw["exec"]))
    raise ValueError("a consumer's reload in the journal is not one the manifest allows")


def _proof_from_dict(raw: Any) -> Proof | None:
    if raw is None:
        return None
    log = raw.get("log")
    if log is not None and not isinstance(log, str):
        raise ValueError("a proof's log in the journal is not a regex")
    return Proof(log=log, probe=_command(raw.get("probe") or [], empty=True))


def _command(raw: Any, empty: bool = False) -> tuple[str, ...]:
    """An argv list as the manifest allows it (core/manifest_reload.argv), else ValueError."""
    ok = isinstance(raw, list) and (empty or raw) and len(raw) <= MAX_ARGS
    if not ok or not all(isinstance(a, str) and a and a.isprintable() for a in raw):
        raise ValueError("a command in the journal is not one the manifest allows")
    return tuple(raw)


def spec_from_dict(d: Mapping[str, Any]) -> SecretSpec:
    """The inverse of spec_to_dict. Names and env vars are checked as the manifest checks them
    (they reach the overlay): ValueError on anything else."""
    consumers = tuple(
        Consumer(
            service=_checked(c["service"], NAME_RE),
            env=_optional_env(c["env"]),
            role=c.get("role") if c.get("role") in ("signer", "listener") else None,
            also=tuple(_checked(env, ENV_RE) for env in c.get("also") or ()),
            target=_checked_path(c.get("target"), absolute=True),
            reload=_reload_from_dict(c.get("reload")),
            proof=_proof_from_dict(c.get("proof")),
        )
        for c in d["consumers"]
    )
    raw = d.get("provision")
    provision = None
    if raw:
        provision = ProvisionSpec(
            kind=str(raw["kind"]), service=_checked(raw["service"], NAME_RE), role=raw.get("role")
        )
    return SecretSpec(
        name=_checked(d["name"], NAME_RE),
        kind=str(d["kind"]),
        consumers=consumers,
        description=str(d.get("description") or ""),
        min_length=int(d.get("min_length") or 1),
        max_length=int(d.get("max_length") or 4096),
        bytes=None if d.get("bytes") is None else int(d["bytes"]),
        pattern=d.get("pattern"),
        generate=bool(d.get("generate")),
        rotation=str(d["rotation"]),
        verify_log=d.get("verify_log"),
        group=d.get("group"),
        finish_after_hours=float(d.get("finish_after_hours", 24.0)),
        provision=provision,
        secondary_env=_optional_env(d.get("secondary_env")),
        key_id_env=_optional_env(d.get("key_id_env")),
        file=_checked_path(d.get("file"), absolute=False),
        sensitive=d.get("sensitive", True) is not False,
        probe=_command(d["probe"]) if d.get("probe") else (),
        multiline=d.get("template") is not None,  # a config: multi-line text
        template=_checked_template(d.get("template")),
        inputs=tuple(_checked(i, NAME_RE) for i in d.get("inputs") or ()),
    )


def _checked_template(value: Any) -> str | None:
    """A config's template path as the manifest allows it (relative, printable, no `..`)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.isprintable() or value.startswith("/"):
        raise ValueError("a template path in the journal is not one the manifest allows")
    if ".." in value.split("/") or "$" in value:
        raise ValueError("a template path in the journal is not one the manifest allows")
    return value


def _checked_path(value: Any, absolute: bool) -> str | None:
    """A consumer's `target` (absolute) or a secret's `file` (relative) as the manifest allows
    them (core/manifest_validate.plain_path), else ValueError; None stays None."""
    if value is not None and not plain_path(value, absolute=absolute):
        raise ValueError("a path in the journal is not one the manifest allows")
    return value


def _checked(value: Any, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError("a name in the journal is not one the manifest allows")
    return value


def _optional_env(value: Any) -> str | None:
    return None if value is None else _checked(value, ENV_RE)


def assignment_to_dict(a: Assignment) -> dict[str, Any]:
    """{"version", "secondary", "key_id"} (None for the base file / no previous key / no id)."""
    return {"version": a.version, "secondary": a.secondary, "key_id": a.key_id}


def assignment_from_dict(d: Mapping[str, Any]) -> Assignment:
    """The inverse of assignment_to_dict; missing keys are None (io/journal.py checks the
    types of the journal's assignments)."""
    return Assignment(
        version=d.get("version"), secondary=d.get("secondary"), key_id=d.get("key_id")
    )


def assignments_to_dict(assignments: Assignments) -> dict[str, Any]:
    """secret -> service -> assignment_to_dict."""
    return {
        secret: {service: assignment_to_dict(a) for service, a in services.items()}
        for secret, services in assignments.items()
    }


def assignments_from_dict(d: Mapping[str, Any]) -> Assignments:
    """The inverse of assignments_to_dict (None or a missing level is empty)."""
    return {
        secret: {service: assignment_from_dict(a) for service, a in (services or {}).items()}
        for secret, services in (d or {}).items()
    }


def step_to_dict(step: Step) -> dict[str, Any]:
    """{"action": ..., and the step's fields}; a Repoint's changes flat, one dict each."""
    out: dict[str, Any] = {"action": step.action}
    if isinstance(step, Repoint):
        out["changes"] = [
            {"service": c.service, "secret": c.secret, **assignment_to_dict(c.assignment)}
            for c in step.changes
        ]
        return out
    for key, value in step.__dict__.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def step_from_dict(d: Mapping[str, Any]) -> Step:
    """The inverse of step_to_dict: ValueError on an unknown action, KeyError or TypeError on
    missing or unknown fields."""
    kind = STEP_TYPES.get(str(d.get("action")))
    if kind is None:
        raise ValueError(f"unknown step action {d.get('action')!r}")
    if kind is Repoint:
        return Repoint(
            tuple(Change(c["service"], c["secret"], assignment_from_dict(c)) for c in d["changes"])
        )
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "action"}
    return kind(**fields)


def active_to_dict(a: Active) -> dict[str, Any]:
    """The procedure in flight as the journal keeps it (also `rotate status --json`'s `active`)."""
    return {
        "id": a.id,
        "procedure": a.procedure,
        "secrets": list(a.secrets),
        "mode": a.mode,
        "started_at": a.started_at,
        "done": a.done,
        "in_progress": a.in_progress,
        "steps": [step_to_dict(s) for s in a.steps],
        "initial": assignments_to_dict(a.initial),
        "new_versions": dict(a.new_versions),
        "key_id": a.key_id,
        "old_key_id": a.old_key_id,
        "group": a.group,
        "forward_steps": [step_to_dict(s) for s in a.forward_steps],
        "forward_reached": a.forward_reached,
        "reason": a.reason,
        "log": list(a.log),
        "specs": {name: spec_to_dict(spec) for name, spec in a.specs.items()},
    }


def active_from_dict(d: Mapping[str, Any]) -> Active:
    """The inverse of active_to_dict: ValueError unless the procedure is one of PROCEDURES and
    the mode forward or rollback; KeyError/TypeError/ValueError on a malformed field."""
    if d.get("procedure") not in PROCEDURES or d.get("mode") not in ("forward", "rollback"):
        raise ValueError("unknown procedure or mode")
    return Active(
        id=str(d["id"]),
        procedure=d["procedure"],
        secrets=tuple(d["secrets"]),
        mode=d["mode"],
        started_at=d["started_at"],
        done=int(d["done"]),
        in_progress=d.get("in_progress"),
        steps=tuple(step_from_dict(s) for s in d["steps"]),
        initial=assignments_from_dict(d["initial"]),
        new_versions={k: int(v) for k, v in (d.get("new_versions") or {}).items()},
        key_id=d.get("key_id"),
        old_key_id=d.get("old_key_id"),
        group=d.get("group"),
        forward_steps=tuple(step_from_dict(s) for s in d.get("forward_steps") or ()),
        forward_reached=int(d.get("forward_reached") or 0),
        reason=d.get("reason"),
        log=list(d.get("log") or []),
        specs={name: spec_from_dict(v) for name, v in (d.get("specs") or {}).items()},
    )


def journal_to_dict(j: Journal) -> dict[str, Any]:
    """The whole journal as `state.json` holds it (`"format": 1`)."""
    return {
        "format": 1,
        "assignments": assignments_to_dict(j.assignments),
        "last_version": dict(j.last_version),
        "active": active_to_dict(j.active) if j.active else None,
        "pending": {secret: pending_to_dict(p) for secret, p in j.pending.items()},
        "history": [history_to_dict(r) for r in j.history],
    }


def journal_from_dict(d: Mapping[str, Any]) -> Journal:
    """The inverse of journal_to_dict. KeyError, TypeError or ValueError on a document that
    is not one (the caller names the file and says what to do)."""
    return Journal(
        assignments=assignments_from_dict(d.get("assignments") or {}),
        last_version={k: int(v) for k, v in (d.get("last_version") or {}).items()},
        active=active_from_dict(d["active"]) if d.get("active") else None,
        pending={
            str(secret): pending_from_dict(p) for secret, p in (d.get("pending") or {}).items()
        },
        history=[history_from_dict(r) for r in d.get("history") or []],
    )


def pending_to_dict(p: PendingPhase2) -> dict[str, Any]:
    """A phase 1 awaiting phase 2 as the journal keeps it."""
    return {
        "id": p.id,
        "phase1_completed_at": p.phase1_completed_at,
        "finish_after_hours": p.finish_after_hours,
        "new_version": p.new_version,
        "written": list(p.written),
        "key_id": p.key_id,
        "old_key_id": p.old_key_id,
        "initial": assignments_to_dict(p.initial),
        "specs": {name: spec_to_dict(spec) for name, spec in p.specs.items()},
    }


def pending_from_dict(d: Mapping[str, Any]) -> PendingPhase2:
    """The inverse of pending_to_dict; `written` and `specs` may be missing (an older journal:
    then phase 1 wrote only the new version, and froze no entries). TypeError/KeyError/
    ValueError otherwise."""
    new_version = _int(d["new_version"])
    completed = _str(d["phase1_completed_at"])
    parse_iso(completed)  # ValueError now, not when status or --finish reads it
    return PendingPhase2(
        id=_str(d["id"]),
        phase1_completed_at=completed,
        finish_after_hours=_number(d["finish_after_hours"]),
        new_version=new_version,
        written=tuple(_int(v) for v in d.get("written", [new_version])),
        key_id=_opt_str(d.get("key_id")),
        old_key_id=_opt_str(d.get("old_key_id")),
        initial=assignments_from_dict(d["initial"]),
        specs={name: spec_from_dict(v) for name, v in (d.get("specs") or {}).items()},
    )


def history_to_dict(r: HistoryRecord) -> dict[str, Any]:
    """A finished procedure as the journal keeps it (`reason` only when there is one)."""
    out: dict[str, Any] = {
        "id": r.id,
        "procedure": r.procedure,
        "secrets": list(r.secrets),
        "outcome": r.outcome,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "versions": dict(r.versions),
        "key_id": r.key_id,
    }
    if r.reason:
        out["reason"] = r.reason
    return out


def history_from_dict(d: Mapping[str, Any]) -> HistoryRecord:
    """The inverse of history_to_dict. TypeError/KeyError on anything else."""
    if not isinstance(d, Mapping):
        raise TypeError("a history entry is not an object")
    return HistoryRecord(
        id=_str(d["id"]),
        procedure=_str(d["procedure"]),
        secrets=tuple(_str(s) for s in d["secrets"]),
        outcome=_str(d["outcome"]),
        started_at=_str(d["started_at"]),
        finished_at=_str(d["finished_at"]),
        versions={_str(k): _int(v) for k, v in (d.get("versions") or {}).items()},
        key_id=_opt_str(d.get("key_id")),
        reason=_opt_str(d.get("reason")),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def _number(value: Any) -> float:
    if type(value) not in (int, float):
        raise TypeError("not a number")
    return value
