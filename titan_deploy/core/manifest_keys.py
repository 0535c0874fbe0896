"""The manifest's vocabulary (README "The manifest"): the keys each section accepts (`*_KEYS`),
the choices (`KINDS`, `ROTATIONS`, `ROLES`, ...), per-kind length defaults and the patterns of
metric names, roles, metrics URLs and age recipients. Read by the parser (core/manifest.py,
core/manifest_secret.py) and by the JSON Schema (core/schema.py). Pure data.
"""

from __future__ import annotations

import re

from titan_deploy.core.limits import MAX_SECRET_BYTES

KINDS = ("password", "hex", "token", "api-key", "text", "pem")
MULTILINE_KINDS = ("text",)  # `multiline: true` allowed; pem is always multi-line
ROTATIONS = ("hmac", "rolling", "restart")
ROLES = ("signer", "listener")
GENERATABLE = ("password", "hex", "token")

# Per-kind length defaults; api-key bounds are loose on purpose: a check must never reject a real
# exchange key (Bybit keys are 18 characters, some providers' secrets are several hundred).
# text and pem may use all of Docker's 500 KiB secret limit (core.limits): one constant everywhere
DEFAULT_MIN = {"password": 16, "hex": 1, "token": 16, "api-key": 8, "text": 1, "pem": 1}
DEFAULT_MAX = {
    "password": 4096,
    "hex": 4096,
    "token": 4096,
    "api-key": 4096,
    "text": MAX_SECRET_BYTES,
    "pem": MAX_SECRET_BYTES,
}

TOP_KEYS = {
    "version",
    "compose_files",
    "overlay",
    "secrets_dir",
    "example_dir",
    "secrets_gid",
    "state_dir",
    "secrets",
    "auth_guard",
    "waivers",
    "backup",
    "backend",  # a secrets manager (core/backend.py, README "Secrets managers")
    "deploy",
    "configs",
}
# a config file rendered from a template and secrets (README "Config files")
CONFIG_KEYS = {"description", "template", "inputs", "file", "consumers", "max_age_days"}
SECRET_KEYS = {
    "description",
    "kind",
    "min_length",
    "max_length",
    "bytes",
    "pattern",
    "multiline",
    "generate",
    "rotation",
    "verify_log",
    "group",
    "secondary_env",
    "key_id_env",
    "finish_after_hours",
    "max_age_days",
    "provision",
    "consumers",
    "file",
    "sensitive",
    "probe",
}
CONSUMER_KEYS = {"env", "role", "target", "reload", "proof"}
PROVISION_KEYS = {"kind", "service", "role"}
PROVISION_KINDS = ("postgres",)
AUTH_GUARD_KEYS = {"metric", "threshold", "endpoints", "counters", "settle_on"}
BACKUP_KEYS = {"recipients"}
# an age X25519 recipient (public key): `age1` + 58 bech32 characters (README "Break-glass copies")
AGE_RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
PG_ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# The URL a container serves its metrics on, fetched from INSIDE it (docker exec wget): plain
# http, a host, an optional port and a path; nothing a shell or wget could read as an option.
METRICS_URL_RE = re.compile(r"^http://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
