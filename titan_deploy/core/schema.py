"""The manifest's JSON Schema (README "Manifest schema"), generated from the validator's own
tables: each section's keys are the parser's `*_KEYS` sets (core/manifest_keys.py), names and
env vars its `NAME_RE` / `ENV_RE` (core/manifest_validate.py), the choices its `KINDS`,
`ROTATIONS`, `ROLES`. A key the parser learns appears here by itself (typed by `PROPERTIES`,
else untyped until it gets an entry). Pure.

The schema is for editors (yaml-language-server completes and checks with it) and CI. It holds
what a JSON Schema can say: unknown keys, types, required keys, choices, name and env-var
alphabets, numeric ranges, relative paths, and the per-secret rules `if`/`then` can say (hex
needs bytes, roles only for hmac, ...). Only the validator checks (VALIDATOR_ONLY): YAML itself
(syntax, tabs, duplicate keys, tags), RE2 validity of regexes, min_length <= max_length, a
provision service among the secret's consumers, an hmac secret's signer AND listener, the overlay
path against the other paths, and every rule across secrets (core/manifest_crosschecks.py).
"""

from __future__ import annotations

import json
from typing import Any

from titan_deploy.core import manifest_deploy as md
from titan_deploy.core import manifest_keys as m
from titan_deploy.core import manifest_reload as mr
from titan_deploy.core import manifest_validate as mv
from titan_deploy.core import waivers as w
from titan_deploy.core.limits import MAX_SECRET_BYTES

DRAFT = "http://json-schema.org/draft-07/schema#"

VALIDATOR_ONLY = (
    "YAML syntax, tab indentation, duplicate keys, tags (the document is not data yet)",
    "an unquoted date where text goes (`description: 2030-01-31`): a date to this YAML 1.1 "
    "loader, text to an editor's YAML 1.2; the validator asks to quote it",
    "a regex (`pattern`, `verify_log`) that RE2 cannot compile",
    "min_length <= max_length",
    "`provision.service` is one of the secret's consumers",
    "an hmac secret has both a signer and a listener",
    "the overlay is not a compose file, nor inside the secrets or state dir",
    "rules across secrets: version-file name collisions, one env var per file per service, "
    "key_id_env naming nothing else",
    "finish_after_hours is finite (YAML .nan / .inf)",
    "a path's and a waiver scope's characters are printable, a path's within U+FFFF (the schema "
    "refuses control characters only: Unicode's categories are beyond a portable regex)",
    "an age recipient's bech32 checksum (the schema checks its alphabet and length)",
    "a config's inputs name secrets of the manifest (not hmac ones), and its name no secret's",
    "auth_guard.settle_on is none of the guard's failure counters",
)


def _name(what: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": mv.NAME_RE.pattern,
        "maxLength": mv.MAX_NAME,
        "description": what,
    }


def _env() -> dict[str, Any]:
    return {"type": "string", "pattern": mv.ENV_RE.pattern}


def _env_or_list() -> dict[str, Any]:
    return {
        "oneOf": [
            _env(),
            {"type": "array", "items": _env(), "minItems": 1, "uniqueItems": True},
        ]
    }


# A relative path inside the project: not absolute, no `..` part, no `$`, no control character
# (C0, DEL, C1: a newline, a NUL). The rest of "printable, none beyond U+FFFF" is VALIDATOR_ONLY.
RELPATH = {
    "type": "string",
    "minLength": 1,
    "pattern": r"^(?!/)(?!(.*/)?\.\.(/|$))[^$\x00-\x1f\x7f-\x9f]+$",
}
# A path segment of `file:` and `target:` (no leading dot: no `.`, `..` or hidden names).
_SEG = mv._SEGMENT.pattern.strip("^$")
SECRET_FILE = {"type": "string", "maxLength": mv.MAX_PATH, "pattern": f"^{_SEG}(/{_SEG})*$"}
TARGET = {"type": "string", "maxLength": mv.MAX_PATH, "pattern": f"^((/{_SEG})+|{_SEG})$"}
_NOT_CONTROL = r"[^\x00-\x1f\x7f-\x9f]"
_SCOPE = {
    "type": "string",
    "minLength": 1,
    "maxLength": w.MAX_SCOPE,
    "pattern": f"^{_NOT_CONTROL}*[^\\s\\x00-\\x1f\\x7f-\\x9f]{_NOT_CONTROL}*$",
}
_WAIVABLE = "".join(sorted(w.WAIVABLE_FAMILIES))
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_GUARD_ENDPOINTS = {  # auth_guard's service -> metrics URL tables
    "type": "object",
    "minProperties": 1,
    "propertyNames": _name("service name"),
    "additionalProperties": {"type": "string", "pattern": m.METRICS_URL_RE.pattern},
}
# a command as an argv list (core/manifest_reload.argv)
_ARGV = {
    "type": "array",
    "minItems": 1,
    "maxItems": mr.MAX_ARGS,
    "items": {"type": "string", "minLength": 1, "maxLength": mr.MAX_ARG},
}
_RELOAD = {
    "oneOf": [
        {"const": "restart"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"signal": {"enum": list(mr.SIGNALS)}},
            "required": ["signal"],
        },
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"exec": _ARGV},
            "required": ["exec"],
        },
    ]
}
_PROOF = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"log": _STR, "probe": _ARGV},
}

# The type of each key, by section; a section's keys themselves come from the parser's tables.
PROPERTIES: dict[str, dict[str, dict[str, Any]]] = {
    "top": {
        "version": {"const": 1, "description": "manifest format version (1)"},
        "compose_files": {"type": "array", "items": RELPATH, "minItems": 1},
        "overlay": RELPATH,
        "secrets_dir": RELPATH,
        "example_dir": RELPATH,
        "state_dir": RELPATH,
        "secrets_gid": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "secrets": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _name("secret name"),
            "additionalProperties": {"$ref": "#/definitions/secret"},
        },
        "auth_guard": {"$ref": "#/definitions/auth_guard"},
        "waivers": {"type": "array", "items": {"$ref": "#/definitions/waiver"}},
        "backup": {"$ref": "#/definitions/backup"},
        "backend": {"type": "object", "required": ["type"]},  # checked by core/backend.py
        "deploy": {"$ref": "#/definitions/deploy"},
        "configs": {
            "type": "object",
            "propertyNames": _name("config name"),
            "additionalProperties": {"$ref": "#/definitions/config"},
        },
    },
    "config": {
        "description": _STR,
        "template": RELPATH,
        "inputs": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": _name("secret name"),
        },
        "file": SECRET_FILE,
        "consumers": {
            "type": "object",
            "propertyNames": _name("service name"),
            "additionalProperties": {
                "oneOf": [
                    _env_or_list(),
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "env": _env_or_list(),
                            "target": TARGET,
                            "reload": _RELOAD,
                            "proof": _PROOF,
                        },
                        "anyOf": [{"required": ["env"]}, {"required": ["target"]}],
                    },
                ]
            },
        },
        "max_age_days": {"type": "integer", "minimum": 1, "maximum": 36500},
    },
    "secret": {
        "description": _STR,
        "kind": {"enum": list(m.KINDS)},
        "min_length": {"type": "integer", "minimum": 1, "maximum": MAX_SECRET_BYTES},
        "max_length": {"type": "integer", "minimum": 1, "maximum": MAX_SECRET_BYTES},
        "bytes": {"type": "integer", "minimum": 8, "maximum": 1024},
        "pattern": _STR,
        "multiline": _BOOL,
        "generate": _BOOL,
        "rotation": {"enum": list(m.ROTATIONS)},
        "verify_log": _STR,
        "group": _name("exchange group"),
        "secondary_env": _env(),
        "key_id_env": _env(),
        "finish_after_hours": {"type": "number", "minimum": 0, "maximum": 87600},
        "provision": {"$ref": "#/definitions/provision"},
        "consumers": {
            "type": "object",
            "propertyNames": _name("service name"),
            "additionalProperties": {"oneOf": [_env_or_list(), {"$ref": "#/definitions/consumer"}]},
        },
        "file": SECRET_FILE,
        "sensitive": _BOOL,
        "max_age_days": {"type": "integer", "minimum": 1, "maximum": 36500},
        "probe": _ARGV,
    },
    "consumer": {
        "env": _env_or_list(),
        "role": {"enum": list(m.ROLES)},
        "target": TARGET,
        "reload": _RELOAD,
        "proof": _PROOF,
    },
    "provision": {
        "kind": {"enum": list(m.PROVISION_KINDS)},
        "service": _name("service name"),
        "role": {"type": "string", "pattern": m.PG_ROLE_RE.pattern},
    },
    "auth_guard": {
        "metric": {"type": "string", "pattern": m.METRIC_RE.pattern},
        "threshold": {"type": "integer", "minimum": 0},
        "endpoints": _GUARD_ENDPOINTS,
        "counters": {
            "type": "object",
            "propertyNames": {"pattern": m.METRIC_RE.pattern},
            "additionalProperties": _GUARD_ENDPOINTS,
        },
        "settle_on": {"type": "string", "pattern": m.METRIC_RE.pattern},
    },
    "waiver": {
        "code": {
            "type": "string",
            "pattern": f"^[{_WAIVABLE}][0-9]{{3}}$",
            "not": {"enum": sorted(w.NEVER)},
        },
        "service": _SCOPE,
        "secret": _SCOPE,
        "file": _SCOPE,
        "reason": {"type": "string", "maxLength": w.MAX_REASON, "pattern": r"\S"},
        "expires": {"type": "string", "format": "date", "pattern": f"^{w.DATE_RE.pattern}$"},
    },
    "deploy": {
        "engine": {"enum": list(md.ENGINES)},
        "stack_overlay": RELPATH,
        "nodes": {
            "type": "object",
            "propertyNames": {"pattern": md.NODE_RE.pattern},
            "additionalProperties": {"type": "string", "pattern": md.ENDPOINT_RE.pattern},
        },
    },
    "backup": {
        "recipients": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": m.AGE_RECIPIENT_RE.pattern},
        },
    },
}

REQUIRED = {
    "top": ["version", "secrets"],
    "secret": [],
    "config": ["template", "inputs"],
    "consumer": [],
    "waiver": ["code", "reason"],
    "provision": ["kind", "service"],
    "auth_guard": ["endpoints"],
    "backup": ["recipients"],
    "deploy": [],
}


def _keys(section: str) -> set[str]:
    """The keys the parser accepts in `section` (its `*_KEYS` table; a section the parser does
    not know yet has none)."""
    table = {
        "top": "TOP_KEYS",
        "secret": "SECRET_KEYS",
        "config": "CONFIG_KEYS",
        "consumer": "CONSUMER_KEYS",
        "provision": "PROVISION_KEYS",
        "auth_guard": "AUTH_GUARD_KEYS",
        "backup": "BACKUP_KEYS",
        "deploy": "DEPLOY_KEYS",
        "waiver": "WAIVER_KEYS",
    }[section]
    owner = {"waiver": w, "deploy": md}.get(section, m)
    return set(getattr(owner, table, ()))


def _section(section: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    keys = _keys(section)
    out: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: PROPERTIES[section].get(key, {}) for key in sorted(keys)},
    }
    required = [key for key in REQUIRED[section] if key in keys]
    if required:
        out["required"] = required
    out.update(extra or {})
    return out


def _secret_rules() -> list[dict[str, Any]]:
    """The per-secret rules `if`/`then` can say (core/manifest_secret.py `parse_secret`,
    `_check_rotation`)."""

    def when(prop: str, cond: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
        return {"if": {"properties": {prop: cond}, "required": [prop]}, "then": then}

    def forbid(*keys: str) -> dict[str, Any]:
        return {"not": {"anyOf": [{"required": [k]} for k in keys]}}

    not_hmac = {"not": {"const": "hmac"}}
    insensitive = {"properties": {"sensitive": {"const": False}}, "required": ["sensitive"]}
    return [
        {"if": insensitive, "else": {"required": ["kind"]}},  # configuration: kind text
        when("kind", {"const": "hex"}, {"required": ["bytes"]}),
        when("kind", {"not": {"const": "hex"}}, forbid("bytes")),
        when("kind", {"not": {"enum": list(m.GENERATABLE)}}, _not_true("generate")),
        when("kind", {"not": {"enum": list(m.MULTILINE_KINDS)}}, _not_true("multiline")),
        when("rotation", {"const": "hmac"}, {"required": ["secondary_env"]}),
        {
            "if": {
                "anyOf": [
                    {"not": {"required": ["rotation"]}},
                    {"properties": {"rotation": not_hmac}},
                ]
            },
            "then": {
                "allOf": [
                    forbid("secondary_env", "key_id_env"),
                    {
                        "properties": {
                            "consumers": {
                                "additionalProperties": {
                                    "not": {"type": "object", "required": ["role"]}
                                }
                            }
                        }
                    },
                ]
            },
            "else": {
                "properties": {
                    "consumers": {"additionalProperties": {"type": "object", "required": ["role"]}}
                }
            },
        },
        {
            "if": {"required": ["provision"]},
            "then": {"required": ["rotation"], "properties": {"rotation": {"const": "rolling"}}},
        },
    ]


def _not_true(key: str) -> dict[str, Any]:
    return {"properties": {key: {"const": False}}}


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of `secrets.manifest.yml`, as a JSON-ready dict. Deterministic:
    the same parser tables give the same schema (the shipped copy is compared byte for byte)."""
    definitions = {
        "secret": _section("secret", {"allOf": _secret_rules()}),
        "consumer": _section(
            "consumer", {"anyOf": [{"required": ["env"]}, {"required": ["target"]}]}
        ),
        "waiver": _section("waiver", {"anyOf": [{"required": [k]} for k in w.SCOPE_KEYS]}),
        "provision": _section("provision"),
        "config": _section("config"),
        "auth_guard": _section("auth_guard"),
        "deploy": _section("deploy"),
    }
    if _keys("backup"):
        definitions["backup"] = _section("backup")
    top = _section("top")
    if "backup" not in definitions:
        top["properties"].pop("backup", None)
    return {
        "$schema": DRAFT,
        "title": "titan-deploy secrets manifest",
        "description": (
            'secrets.manifest.yml (README "The manifest"). Generated by `titan-deploy schema`; '
            'the validator checks more (README "Manifest schema").'
        ),
        **top,
        "definitions": definitions,
    }


def schema_json() -> str:
    """`manifest_schema()` as the text shipped in the wheel and printed by `titan-deploy schema`
    (sorted keys, 2-space indent, one final newline)."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"
