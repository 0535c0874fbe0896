"""Edits that will never apply: a secret file changed where no container will ever read it.

Pure: it takes the manifest, the journal's assignments, the values on disk and the deploy
record, and returns findings. Two cases:

- D001, a base file edited after a rotation. A rotation moves every consumer to a version file
  `secrets/<name>.v<N>`; the base file `secrets/<name>` then only holds a copy of the value in
  use (for check-secrets and a fresh deploy). An edit of it reaches no container, and `up` does
  not apply it either: the overlay names the version file, and compose recreates nothing when
  only a file's content changed. Only a rotation applies a new value.
- D002, the database password edited after PostgreSQL initialised its volume. The official
  postgres image reads POSTGRES_PASSWORD_FILE only to initialise an empty data dir, so a
  redeploy keeps the old password in the database while its clients get the new one. After a
  verified `up` the tool records a salted digest (HMAC-SHA256 with a random salt, never the
  value) of the file the provisioned secret's holder mounts; a file that no longer matches is
  such an edit.

Both point at the command that applies a value (`rotate hmac`, `rotate db`, `rotate exchange
G`, `rotate secret NAME`), never at a redeploy; `fix_hint` gives verify's V002 the same advice
per secret.

A third case is not an error of the operator's: a `restart` secret outside an exchange group
(Grafana's admin password, an API key) edited where its consumers mount it. Compose recreates
nothing for a content change, so the running containers keep the old value (verify's V002);
`up` applies it by recreating exactly those consumers (`recreatable` picks them from verify's
findings). For every other kind a recreate is unsafe (an HMAC key needs its two phases, a
database password its ALTER ROLE, an exchange key pair its proof and a way back), so `up` leaves
them and the finding names the rotate command.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from titan_deploy.core.findings import Finding, error
from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.overlay import Assignment, file_name
from titan_deploy.core.versions import FILE_SEP

Assignments = Mapping[str, Mapping[str, Assignment]]  # secret -> service -> assignment
RECORD_FORMAT = 1


@dataclass(frozen=True)
class Deployed:
    """The file a provisioned secret's holder mounted when `up` last verified the stack."""

    file: str  # name in the secrets dir: `<name>` or `<name>.v<N>`
    digest: str  # hex HMAC-SHA256(salt, trimmed value)
    at: str  # ISO 8601 time of that `up`


@dataclass
class DeployRecord:
    """`<state_dir>/deployed.json`: secret -> what was deployed. Holds no value."""

    salt: str  # hex; random per project, so a digest cannot be looked up in a table
    secrets: dict[str, Deployed] = field(default_factory=dict)


def digest(salt: str, value: bytes) -> str:
    """HMAC-SHA256 of a (trimmed) value keyed with the record's salt, hex."""
    return hmac.new(bytes.fromhex(salt), value, hashlib.sha256).hexdigest()


def record_to_dict(record: DeployRecord) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "salt": record.salt,
        "secrets": {
            name: {"file": d.file, "digest": d.digest, "at": d.at}
            for name, d in sorted(record.secrets.items())
        },
    }


def record_from_dict(doc: Mapping[str, Any]) -> DeployRecord:
    """Raises ValueError/KeyError/TypeError on a malformed document."""
    salt = str(doc["salt"])
    bytes.fromhex(salt)
    secrets = {
        str(name): Deployed(file=str(d["file"]), digest=str(d["digest"]), at=str(d["at"]))
        for name, d in (doc.get("secrets") or {}).items()
    }
    return DeployRecord(salt=salt, secrets=secrets)


# --- what applies a new value ---------------------------------------------------------------------


def rotate_command(manifest: Manifest, secret: str) -> str | None:
    """The `titan-deploy rotate ...` command that changes `secret` everywhere, None if none.

    rotation hmac -> `rotate hmac`; rolling with a provision -> `rotate db`; restart in a group
    G -> `rotate exchange G`; restart outside a group -> `rotate secret NAME`. `--secret NAME`
    is added when the command would be ambiguous. None: rolling without a provision."""
    spec = manifest.secrets[secret]
    if spec.is_config:  # a new version is rendered when an input rotates
        return rotate_command(manifest, spec.inputs[0])
    if spec.rotation == "hmac":
        same = [s for s in manifest.secrets.values() if s.rotation == "hmac"]
        return _with_secret("titan-deploy rotate hmac", spec, same)
    if spec.rotation == "rolling" and spec.provision is not None:
        same = [s for s in manifest.secrets.values() if s.rotation == "rolling" and s.provision]
        return _with_secret("titan-deploy rotate db", spec, same)
    if spec.rotation == "restart" and spec.group:
        return f"titan-deploy rotate exchange {spec.group}"
    if spec.rotation == "restart":
        return f"titan-deploy rotate secret {spec.name}"
    return None


def recreates(spec: SecretSpec) -> bool:
    """Whether `up` applies an edited value of this secret by recreating its consumers: rotation
    restart outside an exchange group (see the module docstring)."""
    return spec.rotation == "restart" and not spec.group


def _with_secret(command: str, spec: SecretSpec, same: list[SecretSpec]) -> str:
    return command if len(same) == 1 else f"{command} --secret {spec.name}"


def _apply(manifest: Manifest, secret: str) -> str | None:
    command = rotate_command(manifest, secret)
    spec = manifest.secrets[secret]
    if command is None:
        return None
    if spec.rotation == "hmac":
        return f"run `{command}` (a new generated key, to listeners first, then signers)"
    if spec.rotation == "rolling":
        return f"run `{command}` (a new generated password: ALTER ROLE, then every consumer)"
    if spec.group:
        return f"run `{command}` with the new key pair (from files, stdin or a prompt)"
    generate = " (or `--generate` for a random one)" if spec.generate else ""
    return f"run `{command} --from-file FILE`{generate}"


def fix_hint(manifest: Manifest, secret: str) -> str:
    """verify's V002 advice for `secret`: a mounted value that is not the host file's.

    `titan-deploy up` never applies an edited secret file (compose recreates nothing for a
    content change) — except for a `restart` secret outside an exchange group, whose consumers
    `up` recreates (`recreatable`); else the advice is the secret's rotation, else a forced
    recreate."""
    apply = _apply(manifest, secret)
    if recreates(manifest.secrets[secret]):
        return (
            "run `titan-deploy up`: it recreates the consumers of an edited restart secret so "
            f"they read the file again (a new value with a rollback if it fails: "
            f"`{rotate_command(manifest, secret)} --from-file FILE`)"
        )
    if apply:
        return f"{apply}; `titan-deploy up` does not apply an edited secret file"
    return (
        "recreate its consumers so they read the file again (`docker compose up -d "
        "--force-recreate SERVICE` with the project's compose files); `titan-deploy up` does "
        "not recreate a container when only a secret file's content changed"
    )


def fix_hints(manifest: Manifest) -> dict[str, str]:
    """`fix_hint` for every secret of the manifest (what verify's facts carry)."""
    return {name: fix_hint(manifest, name) for name in manifest.secrets}


def recreatable(manifest: Manifest, findings: Iterable[Finding]) -> dict[str, tuple[str, ...]]:
    """service -> the secrets it must re-read: the (service, secret) pairs of verify's findings
    whose only problem is a stale value (V002 carrying this module's `fix_hint`: the container
    holds, or read at start, another value than the file) of a secret `up` may apply by a
    recreate (`recreates`). A pair with any other V002 (the file changed after check-secrets
    passed it, a missing file, a symlink out) is left out: a recreate would not fix it."""
    stale: dict[tuple[str, str], bool] = {}
    for finding in findings:
        if finding.code != "V002" or not finding.service or finding.secret not in manifest.secrets:
            continue
        pair = (finding.service, finding.secret)
        ok = recreates(manifest.secrets[finding.secret]) and finding.fix == fix_hint(
            manifest, finding.secret
        )
        stale[pair] = stale.get(pair, True) and ok
    out: dict[str, tuple[str, ...]] = {}
    for (service, secret), ok in stale.items():
        if ok:
            out[service] = (*out.get(service, ()), secret)
    return out


# --- D001: base file edited after a rotation ------------------------------------------------------


def shown_file(spec: SecretSpec, key: str) -> str:
    """The file, relative to the secrets dir, that a value key (`<name>` or `<name>.v<N>`, as
    the values and the deploy record are keyed) names for `spec`: its `file:` (`db/pw.txt`,
    `db/pw.txt.v1`) when it has one, else the key itself. For messages: the path to open."""
    if key == spec.name or key.startswith(spec.name + FILE_SEP):
        return spec.file_name + key[len(spec.name) :]
    return key


def _assignment(assignments: Assignments, secret: str, service: str) -> Assignment:
    return assignments.get(secret, {}).get(service, Assignment())


def base_edits(
    manifest: Manifest,
    assignments: Assignments,
    values: Mapping[str, bytes],
    label: str = "secrets",
    skip: Iterable[str] = (),
) -> list[Finding]:
    """D001 for each secret whose consumers mount version files (after a rotation) while the
    base file holds a value none of those versions holds: an edit that never reaches them.

    `values`: file name (`<name>`, `<name>.v<N>`) -> trimmed content. `skip`: secrets of the
    rotation in flight (their files legitimately differ mid-way). A secret whose base file or
    versions are missing is left to check-secrets and verify."""
    skipped = set(skip)
    findings = []
    for spec in manifest.secrets.values():
        if spec.name in skipped or spec.name not in values:
            continue
        by_file: dict[str, list[str]] = {}
        previous: list[str] = []  # HMAC phase 1: the base file still holds the previous key
        for consumer in spec.consumers:
            a = _assignment(assignments, spec.name, consumer.service)
            for version in (a.version, a.secondary):
                if version is not None:
                    by_file.setdefault(file_name(spec.name, version), []).append(consumer.service)
            if a.secondary is not None:
                previous.append(file_name(spec.name, a.secondary))
        known = [f for f in dict.fromkeys([*previous, *by_file]) if f in values]
        if not known or any(values[f] == values[spec.name] for f in known):
            continue
        findings.append(_base_edit(manifest, spec, by_file, known, label))
    return findings


def _base_edit(
    manifest: Manifest,
    spec: SecretSpec,
    by_file: dict[str, list[str]],
    known: list[str],
    label: str,
) -> Finding:
    base = f"{label}/{spec.file_name}"
    in_use = "; ".join(
        f"{', '.join(dict.fromkeys(services))} mount {label}/{shown_file(spec, f)}"
        for f, services in by_file.items()
    )
    undo = f"undo the edit ({label}/{shown_file(spec, known[0])} holds the value it had)"
    apply = _apply(manifest, spec.name)
    if apply and recreates(spec):  # the operator's new value is in the base file
        apply = apply.replace("--from-file FILE", f"--from-file {base}")
    return error(
        "D001",
        f"{base} differs from the version in use since a rotation ({in_use}): "
        f"an edit of {base} never reaches a container, and `up` does not apply it",
        secret=spec.name,
        fix=f"to change the value {apply}; or {undo}"
        if apply
        else f"{undo}: no rotate command covers {spec.name}",
    )


# --- D002: the database password changed after postgres initialised its volume -----------------


def provisioned(manifest: Manifest) -> list[SecretSpec]:
    """Secrets whose credential lives in a PostgreSQL initialised from the file."""
    return [s for s in manifest.secrets.values() if s.provision and s.provision.kind == "postgres"]


def holder_file(manifest: Manifest, assignments: Assignments, secret: str) -> str:
    """The file the provisioned secret's holder (postgres) mounts per the journal."""
    spec = manifest.secrets[secret]
    assert spec.provision is not None
    return file_name(secret, _assignment(assignments, secret, spec.provision.service).version)


def password_edits(
    manifest: Manifest,
    assignments: Assignments,
    values: Mapping[str, bytes],
    record: DeployRecord | None,
    label: str = "secrets",
    skip: Iterable[str] = (),
) -> list[Finding]:
    """D002 for each provisioned secret whose holder's file no longer holds the value `up` last
    deployed (and the database was initialised with, or set to by `rotate db`)."""
    if record is None:
        return []
    skipped = set(skip)
    findings = []
    for spec in provisioned(manifest):
        deployed = record.secrets.get(spec.name)
        if spec.name in skipped or deployed is None:
            continue
        current = holder_file(manifest, assignments, spec.name)
        value = values.get(current)
        if current != deployed.file or value is None:
            continue
        if hmac.compare_digest(digest(record.salt, value), deployed.digest):
            continue
        findings.append(_password_edit(manifest, spec, current, deployed, label))
    return findings


def _password_edit(
    manifest: Manifest, spec: SecretSpec, current: str, deployed: Deployed, label: str
) -> Finding:
    assert spec.provision is not None
    holder = spec.provision.service
    clients = [c.service for c in spec.consumers if c.service != holder] or ["its clients"]
    return error(
        "D002",
        f"{label}/{shown_file(spec, current)} changed after `titan-deploy up` deployed it "
        f"({deployed.at}): "
        f"{holder} keeps the password its data volume was initialised with (postgres reads "
        f"POSTGRES_PASSWORD_FILE only to initialise an empty data dir), so a redeploy would "
        f"give {', '.join(clients)} a password the database refuses",
        secret=spec.name,
        service=holder,
        fix=f"run `{rotate_command(manifest, spec.name)}` (it sets a new password in the "
        "database, then in every consumer), or put the deployed value back; if the database "
        "volume was deleted, `titan-deploy down --volumes` forgets the deployed value",
    )


def unapplied_edits(
    manifest: Manifest,
    assignments: Assignments,
    values: Mapping[str, bytes],
    record: DeployRecord | None,
    label: str = "secrets",
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Every edit that will never apply: D001 then D002 (see the module docstring)."""
    skip = tuple(skip)
    return [
        *base_edits(manifest, assignments, values, label, skip),
        *password_edits(manifest, assignments, values, record, label, skip),
    ]


def record_deployed(
    manifest: Manifest,
    assignments: Assignments,
    values: Mapping[str, bytes],
    record: DeployRecord,
    verified: Iterable[str],
    at: str,
) -> DeployRecord:
    """The record once `up` verified these secrets: each provisioned one's holder file digest."""
    secrets = dict(record.secrets)
    done = set(verified)
    for spec in provisioned(manifest):
        current = holder_file(manifest, assignments, spec.name)
        value = values.get(current)
        if spec.name in done and value is not None:
            secrets[spec.name] = Deployed(current, digest(record.salt, value), at)
    return DeployRecord(salt=record.salt, secrets=secrets)
