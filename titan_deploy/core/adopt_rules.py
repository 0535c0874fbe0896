"""`adopt`'s decisions for each group of identical values (core/adopt.py finds them). PURE.

Whether a group is a secret (`found_by`), which file var each consumer reads (the image's own
spelling, else the `*_FILE` loader contract), what refuses it, its name and kind, and which
env-file lines go. The rules are in core/adopt.py's docstring; nothing here keeps a value beyond
the call (values reach the plan only as the writer's `Values`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from titan_deploy.core.adopt_kinds import derive_kind, value_problems
from titan_deploy.core.adopt_model import (
    STAND_IN,
    AdoptInput,
    AdoptPlan,
    ConsumerPlan,
    EnvEdit,
    Refusal,
    SecretPlan,
    Use,
)
from titan_deploy.core.conventions import convention_for, image_repository
from titan_deploy.core.lint import HIGH_ENTROPY, RUNTIME_FIELDS
from titan_deploy.core.manifest import SecretSpec
from titan_deploy.core.manifest_validate import ENV_RE, NAME_RE
from titan_deploy.core.secretvalue import is_placeholder

if TYPE_CHECKING:
    from titan_deploy.core.dotenv import Assignment

__all__ = ["RUNTIME_FIELDS", "Decider", "Group", "found_by"]

# what to do instead (README "Config files"): adopt never writes a template for you
CONFIG_FILE = (
    "needs a config file rendered from the secret: a manifest `configs:` entry and its "
    'template (README "Config files")'
)
# Official images that read no secret from a file at all: an env_file value they never name on
# their command line was never theirs (a shared .env.prod); adopt stops giving it to them.
NO_FILE_IMAGES = frozenset(
    {"library/redis", "library/nats", "library/traefik", "library/memcached", "bitnami/redis"}
)
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|_KEY$|APIKEY$")
DSN = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*:[^@\s/]+@")
SETTING = re.compile(r"^(-?[0-9]+(\.[0-9]+)?|true|false|yes|no|on|off)$", re.IGNORECASE)


@dataclass(frozen=True)
class Group:
    """Every use of one value; `found_by`: name, dsn or value."""

    index: int
    uses: tuple[Use, ...]
    found_by: str
    value: str = field(repr=False)

    @property
    def names(self) -> list[str]:
        return sorted({u.name for u in self.uses})

    @property
    def first(self) -> tuple[str, int]:
        """The first place the value is written (file, line): the plan's order."""
        return min((u.file, u.first) for u in self.uses)

    @property
    def where(self) -> str:
        return ", ".join(sorted({f"{u.file}:{u.first}" for u in self.uses}))


def found_by(names: set[str], value: str, include: frozenset[str]) -> str | None:
    """Why a value is a secret (`name`, `dsn`, `value`) or None. `value` means only its shape
    says so: adopted with --include NAME only."""
    if not value.strip() or value.startswith("/run/secrets/") or value == STAND_IN:
        return None
    if is_placeholder(value.encode(), None):
        return None
    if DSN.match(value):
        return "dsn"
    secret_named = any(SECRET_NAME.search(n.upper()) and not n.endswith("FILE") for n in names)
    if secret_named and not SETTING.match(value.strip()):
        return "name"
    if HIGH_ENTROPY.match(value) or names & include:
        return "value"
    return None


@dataclass
class _Decision:
    consumers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)  # service -> names it never read

    @property
    def notes(self) -> list[str]:
        if not self.dropped:
            return []
        services = ", ".join(sorted(self.dropped))
        names = ", ".join(sorted({n for ns in self.dropped.values() for n in ns}))
        return [
            f"{services} no longer get {names} (their images never read it; it came with a "
            "shared env_file)"
        ]


@dataclass
class Decider:
    """Decides every group with the project's facts: `services` name -> image, `runtime` name
    -> env names its command expands at run time (`$$X`)."""

    services: Mapping[str, str | None]
    runtime: Mapping[str, set[str]]
    # `.env` variable -> places that read it which the plan does not follow (an `include:`d
    # file, a top-level secret's `environment:`, `${V}` outside `services:`, an env file)
    elsewhere: Mapping[str, list[str]] = field(default_factory=dict)

    def decide(
        self,
        groups: list[Group],
        data: AdoptInput,
        files: Mapping[str, list[Assignment] | None],
    ) -> tuple[AdoptPlan, dict[str, int]]:
        """The plan for every group, and which value each adopted secret holds."""
        secrets: list[SecretPlan] = []
        refusals: list[Refusal] = []
        possible: list[Refusal] = []
        notes: list[str] = []
        chosen: dict[str, int] = {}
        taken: set[str] = set()
        for group in sorted(groups, key=lambda g: (g.first, g.names)):
            names = tuple(group.names)
            if set(names) & data.exclude:
                notes.append(f"{', '.join(names)} ({group.where}): excluded (--exclude)")
                continue
            if group.found_by == "value" and not set(names) & data.include:
                reason = (
                    f"looks random but its name is not a secret's: --include {names[0]} adopts it"
                )
                possible.append(Refusal(names, group.where, reason))
                continue
            decision = self._consumers(group, data)
            if not decision.refusals and not decision.consumers:
                reason = "no service reads it from a file (" + "; ".join(decision.notes) + ")"
                decision.refusals.append(Refusal(names, group.where, reason))
            elsewhere = self._read_elsewhere(group, data, files)
            if decision.refusals or elsewhere:
                refusals += decision.refusals + elsewhere
                if len(decision.refusals) == len(group.uses):  # not one use was adoptable
                    continue
                notes.append(
                    f"{', '.join(names)} stay where they are ({group.where}): a secret is adopted "
                    "all or nothing, and one of its uses cannot be"
                )
                continue
            base, tie = _secret_name(names)
            name = _unique(base, taken)
            spec, clash = _existing(data, name, decision)
            if clash:
                refusals.append(Refusal(names, group.where, clash))
                continue
            secret = _secret(group, name, data, decision, spec)
            rejected, warned = value_problems(secret, group, data, spec)
            if rejected:
                refusals.append(Refusal(names, group.where, rejected, code="A006"))
                continue
            secret = replace(secret, notes=(*secret.notes, *tie, *warned))
            taken.add(name)
            chosen[name] = group.index
            secrets.append(secret)
        secrets = [_dsn_notes(s, chosen, groups) for s in secrets]
        adopted = {chosen[s.name] for s in secrets}
        kept_set = {
            u.var for g in groups if g.index in adopted for u in g.uses if u.via == "interpolation"
        }
        edits = _edits(secrets, groups, chosen, files, {data.dotenv_display: kept_set})
        plan = AdoptPlan(tuple(secrets), tuple(refusals), edits, tuple(possible), tuple(notes))
        return plan, chosen

    def _read_elsewhere(
        self, group: Group, data: AdoptInput, files: Mapping[str, list[Assignment] | None]
    ) -> list[Refusal]:
        """A refusal for each `.env` variable holding the group's value that something adopt
        does not follow also reads: adopting would take the value out from under it (the line
        goes, or becomes the stand-in)."""
        dot = data.dotenv_display
        out = []
        for a in files.get(dot) or []:
            places = self.elsewhere.get(a.name) if a.value == group.value else None
            if places:
                reason = (
                    f"{'; '.join(dict.fromkeys(places))} also read{'s' if len(places) == 1 else ''}"
                    f" {a.name} from {dot}: adopting it would change the value there; move "
                    "that use to the secret file (or adopt it by hand), then run adopt again"
                )
                out.append(Refusal((a.name,), f"{dot}:{a.first}", reason))
        return out

    def _consumers(self, group: Group, data: AdoptInput) -> _Decision:
        out = _Decision()
        for use in group.uses:
            refused = self._refusal(use) or self._differs(use, group.value, data)
            if refused is not None:
                out.refusals.append(
                    Refusal((use.name,), f"{use.file}:{use.first}", refused, use.service)
                )
                continue
            file_var, problem = self._file_var(use)
            if problem:
                where = f"{use.file}:{use.first}"
                out.refusals.append(Refusal((use.name,), where, problem, use.service))
                continue
            if file_var is None:
                out.dropped.setdefault(use.service or "", []).append(use.name)
                continue
            if not ENV_RE.fullmatch(file_var) or not NAME_RE.fullmatch(use.service or ""):
                reason = (
                    f"{use.service} / {file_var}: a name the manifest cannot hold yet "
                    "(issue 10 item 1): adopt it by hand"
                )
                out.refusals.append(
                    Refusal((use.name,), f"{use.file}:{use.first}", reason, use.service)
                )
                continue
            entry = out.consumers.setdefault(
                use.service or "", {"envs": [], "reads": [], "via": [], "resets": []}
            )
            pairs = [("envs", file_var), ("reads", use.name), ("via", use.file)]
            if use.via == "interpolation":
                pairs.append(("resets", use.name))
            for key, item in pairs:
                if item not in entry[key]:
                    entry[key].append(item)
        return out

    def _differs(self, use: Use, value: str, data: AdoptInput) -> str | None:
        """Why the value adopt read for `use` is not the one Compose gives the container (a
        `$` Compose expands, an escape or quote it reads otherwise), or None."""
        got = data.compose_env.get(use.service or "")
        if got is None or use.via not in ("env_file", "interpolation", "passthrough"):
            return None
        if use.name in got and got[use.name] != value:
            return (
                f"Compose gives {use.service} a different {use.name} than adopt reads in "
                f"{use.file}:{use.first} (a `$` it expands, an escape or quote it reads "
                "otherwise): quote the value as Compose expects (single quotes: taken as "
                "written), then run adopt again"
            )
        return None

    def _refusal(self, use: Use) -> str | None:
        if use.file.startswith("/") or use.file.startswith("../"):
            return (
                f"{use.file} is outside the project dir: adopt never writes there; edit it by "
                f"hand (move {use.name} to an env file inside the project), then run adopt again"
            )
        if use.via == "environment":
            return (
                f"{use.ref}: {use.service}'s environment: sets {use.name} to the value in the "
                "upstream compose file itself; adopt never edits it: move the value to an "
                "env_file, then run adopt again"
            )
        if use.via == "composed":
            return (
                f"{use.ref}: {use.service}'s environment: builds {use.name} from "
                f"${{{use.var}}} and more text, so its value is not {use.var}'s: give the "
                f"service {use.var} itself (a `*_FILE` it reads), then run adopt again"
            )
        if use.via in ("argv", "config"):
            where = "a command line" if use.via == "argv" else "the compose config"
            return f"{use.ref} interpolates ${{{use.var}}} into {where}: {CONFIG_FILE}"
        if use.name in self.runtime.get(use.service or "", set()):
            return (
                f"{use.service}'s command expands ${use.name} (a command line or a config it "
                f"renders): {CONFIG_FILE}"
            )
        return None

    def _file_var(self, use: Use) -> tuple[str | None, str]:
        """(the file var `use.service` reads for `use.name`, "") — or (None, "") when its image
        never reads the name (it only came with a shared env_file), or (None, why) when the
        image reads it but not from a file."""
        image = self.services.get(use.service or "")
        conv = convention_for(image)
        if conv is not None:
            spelled = f"{use.name}__FILE" if conv.file_pattern is not None else f"{use.name}_FILE"
            if conv.reads(spelled):
                return spelled, ""
            if use.name.startswith(conv.namespace):
                why = f"the {conv.name} image cannot read {use.name} from a file"
                return None, f"{why}: {CONFIG_FILE}"
            return None, ""
        if image_repository(image) in NO_FILE_IMAGES:
            return None, ""
        return f"{use.name}_FILE", ""


def _secret_name(names: tuple[str, ...]) -> tuple[str, list[str]]:
    """The longest env name (the most specific: TITAN_DB_PASSWORD over DB_PASSWORD), lowered,
    and a note when several names are that long: the first of them in sorting order is taken
    (deterministic), and the note says which others tied."""
    ranked = sorted(names, key=lambda n: (-len(n), n))
    best = ranked[0]
    name = re.sub(r"[^a-z0-9_.-]", "_", best.lower()).strip("_.-") or "secret"
    name = name if name[0].isalnum() else f"s{name}"
    tied = [n for n in ranked[1:] if len(n) == len(best)]
    if not tied:
        return name, []
    note = (
        f"named {name} after {best}: {', '.join(tied)} {'is' if len(tied) == 1 else 'are'} as "
        "long (the first in sorting order is taken); rename it in the manifest before the "
        "first deploy if you prefer another"
    )
    return name, [note]


def _unique(name: str, taken: set[str]) -> str:
    n, out = 2, name
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    return out


def _existing(
    data: AdoptInput, name: str, decision: _Decision
) -> tuple[SecretSpec | None, str | None]:
    """The manifest's entry for `name` (None when new) and a clash that refuses the group: the
    entry lacks a planned consumer, or another secret already has one of its env vars."""
    manifest = data.manifest
    if manifest is None:
        return None, None
    spec = manifest.secrets.get(name)
    if spec is not None and spec.is_config:
        return None, (
            f"{name} is a config of the manifest (rendered from {spec.template}), not a secret "
            "a value can be copied into: rename the config, or remove it, then run adopt again"
        )
    for service, entry in decision.consumers.items():
        for other in manifest.secrets_of(service):
            consumer = other.consumer(service)
            envs = set(consumer.envs) if consumer else set()
            shared = sorted(envs & set(entry["envs"]))
            if other.name != name and shared:
                return spec, (
                    f"the manifest already points {service}'s {shared[0]} at secret "
                    f"{other.name}: resolve that first"
                )
        if spec is not None:
            consumer = spec.consumer(service)
            if consumer is None or not set(entry["envs"]) <= set(consumer.envs):
                return spec, (
                    f"the manifest already has secret {name} without {service} reading "
                    f"{', '.join(entry['envs'])}: add that consumer by hand, then run adopt again"
                )
    return spec, None


def _secret(
    group: Group, name: str, data: AdoptInput, decision: _Decision, spec: SecretSpec | None
) -> SecretPlan:
    consumers = tuple(
        ConsumerPlan(
            service, tuple(e["envs"]), tuple(e["reads"]), tuple(e["via"]), tuple(e["resets"])
        )
        for service, e in sorted(decision.consumers.items())
    )
    notes: list[str]
    if spec is not None:
        kind, size, multiline, notes = spec.kind, spec.bytes, spec.multiline, []
    else:
        kind, size, multiline, notes = derive_kind(group.names, group.value, group.found_by)
    notes += decision.notes
    return SecretPlan(
        name=name,
        kind=kind,
        consumers=consumers,
        sources=tuple(sorted({f"{u.file}:{u.first}" for u in group.uses})),
        found_by=group.found_by,
        file=f"{data.secrets_dir}/{name}",
        bytes=size,
        multiline=multiline,
        existing=spec is not None,
        notes=tuple(notes),
    )


def _dsn_notes(secret: SecretPlan, chosen: dict[str, int], groups: list[Group]) -> SecretPlan:
    """A DSN that embeds another adopted secret's value says so: rotating that one will not
    update the DSN."""
    if secret.found_by != "dsn":
        return secret
    value = {g.index: g.value for g in groups}
    mine = value[chosen[secret.name]]
    inside = [
        other
        for other, index in chosen.items()
        if other != secret.name and len(value[index]) >= 8 and value[index] in mine
    ]
    if not inside:
        return secret
    note = f"embeds the value of {', '.join(inside)}: rotating that does not update this URL"
    return replace(secret, notes=(*secret.notes, note))


def _edits(
    secrets: list[SecretPlan],
    groups: list[Group],
    chosen: dict[str, int],
    files: Mapping[str, list[Assignment] | None],
    stand_in: Mapping[str, set[str | None]],
) -> tuple[EnvEdit, ...]:
    """Per env file (`.env` included): every line that assigns an adopted value, under any name.
    Each is a use that was adopted, or one no service sees (shadowed by `environment:`, or a
    `.env` variable nothing interpolates: a use would have refused the secret), so no service
    loses a value it reads; the value leaves every file."""
    value_of = {g.index: g.value for g in groups}
    owner = {value_of[chosen[s.name]]: s.name for s in secrets}
    out = []
    for path in sorted(files):
        hits = [a for a in files.get(path) or [] if a.value is not None and a.value in owner]
        if hits:
            spans = tuple((a.first, a.last) for a in hits)
            names = tuple(sorted({a.name for a in hits}))
            owners = tuple(dict.fromkeys(owner[a.value or ""] for a in hits))
            kept = tuple(n for n in names if n in stand_in.get(path, set()))
            out.append(EnvEdit(path, spans, names, owners, kept))
    return tuple(out)
