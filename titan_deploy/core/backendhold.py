"""Pinned backend versions the backend's own cleanup must not take (README "Secrets managers",
"Pinned versions are kept"). Pure: the decisions; io/openbao.py and io/awssm.py read and act.

- OpenBao/Vault KV v2 keeps `max_versions` versions per key (the key's metadata, else the
  mount's config, else 10) and destroys the oldest on the next write: `destroyed_by_write` names
  the pinned versions a write would push out, so the write is refused first (`PinAtRisk`).
- Secrets Manager may delete a version without a staging label: each pinned VersionId carries a
  label of titan-deploy's own, `titan-deploy-<VersionId>` (`label_moves`), removed once unpinned.
- `PinState`: a pinned version the backend lost (destroyed, deleted, missing) or may lose
  (unlabelled, next in line to be destroyed), as findings B007 (error) and B008 (warning).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from titan_deploy.core.findings import Finding, error, warning
from titan_deploy.errors import RuntimeFailure

KV_DEFAULT_MAX_VERSIONS = 10  # KV v2's default when neither the key nor the mount sets one
LABEL_PREFIX = "titan-deploy-"  # + the VersionId: one label per pinned version, unique per secret
MAX_HELD = 10  # pinned versions per secret (base + rotation versions: 3 at most in practice)


class PinAtRisk(RuntimeFailure):
    """A write refused before anything was written: it would destroy a pinned version (exit 3;
    `push` reports it as a `refused` row, B006, exit 1)."""


@dataclass(frozen=True)
class KvMeta:
    """A KV v2 key's metadata: `current` and `oldest` version numbers, its effective
    `max_versions` (`effective_max`), and per version number (deleted, destroyed)."""

    current: int
    oldest: int
    max_versions: int
    versions: Mapping[int, tuple[bool, bool]]


def effective_max(key_max: int, mount_max: int | None) -> int:
    """KV v2's limit for a key: the key's `max_versions`, else the mount's, else 10 (0: unset)."""
    if key_max > 0:
        return key_max
    if mount_max:
        return mount_max
    return KV_DEFAULT_MAX_VERSIONS


def destroyed_by_write(meta: KvMeta, pinned: Collection[int]) -> list[int]:
    """The pinned versions still held that the next write would destroy: KV v2 keeps the newest
    `max_versions` (the new one included), i.e. it destroys every version <= current + 1 - max."""
    cut = meta.current + 1 - meta.max_versions
    return sorted(v for v in set(pinned) if _held(meta, v) and v <= cut)


def _held(meta: KvMeta, version: int) -> bool:
    if version < max(meta.oldest, 1) or version > meta.current:
        return False
    _deleted, destroyed = meta.versions.get(version, (False, True))
    return not destroyed


@dataclass(frozen=True)
class PinState:
    """A pinned `version` the backend `lost` (error) or may lose (warning), and `why`."""

    version: str
    why: str
    lost: bool


def kv_states(meta: KvMeta | None, pinned: Collection[int]) -> list[PinState]:
    """The pinned versions of a KV v2 key that are lost (destroyed, deleted, missing; `meta`
    None: the key is gone) or next in line to be destroyed by a write outside titan-deploy."""
    out = []
    cut = None if meta is None else meta.current + 1 - meta.max_versions
    for v in sorted(set(pinned)):
        if meta is None or v > meta.current:
            out.append(PinState(str(v), "missing", True))
            continue
        deleted, destroyed = meta.versions.get(v, (False, True))
        if v < meta.oldest or destroyed:
            out.append(PinState(str(v), "destroyed", True))
        elif deleted:
            out.append(PinState(str(v), "deleted (bao kv undelete restores it)", True))
        elif cut is not None and v <= cut:
            why = f"the next write destroys it (max_versions {meta.max_versions})"
            out.append(PinState(str(v), why, False))
    return out


def label_of(version_id: str) -> str:
    """titan-deploy's staging label for a pinned Secrets Manager version."""
    return LABEL_PREFIX + version_id


def label_moves(
    listing: Mapping[str, Collection[str]], keep: Collection[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """From a secret's versions (VersionId -> its staging labels): the versions of `keep` to
    label (those listed without their label), and the (label, VersionId) pairs to remove (a
    titan-deploy label on a version not kept). A kept version that is not listed is lost
    (`aws_states`), never labelled."""
    add = [v for v in sorted(set(keep)) if v in listing and label_of(v) not in listing[v]]
    remove = [
        (label, vid)
        for vid, labels in sorted(listing.items())
        for label in sorted(labels)
        if label.startswith(LABEL_PREFIX) and (vid not in keep or label != label_of(vid))
    ]
    return add, remove


def aws_states(
    listing: Mapping[str, Collection[str]] | None, keep: Collection[str]
) -> list[PinState]:
    """Pinned VersionIds the secret no longer has (lost), or that lack titan-deploy's label
    (AWS may delete a version without labels; `up` labels every pinned version again)."""
    out = []
    for vid in sorted(set(keep)):
        if listing is None or vid not in listing:
            out.append(PinState(vid, "missing (deleted)", True))
        elif label_of(vid) not in listing[vid]:
            why = f"without titan-deploy's label {label_of(vid)}"
            if not listing[vid]:
                why += " and with no label at all: AWS may delete it"
            out.append(PinState(vid, why, False))
    return out


def check_count(where: str, keep: Collection[str]) -> None:
    """RuntimeFailure when more than MAX_HELD versions of one secret would be labelled (a
    version carries at most 20 labels; the pins of one secret are a handful)."""
    if len(set(keep)) > MAX_HELD:
        raise RuntimeFailure(
            f"{where}: {len(set(keep))} pinned versions, over {MAX_HELD}: finish or abort the "
            "rotation in flight, then `titan-deploy up`"
        )


def refusal(where: str, versions: list[int], max_versions: int, write: str = "this write") -> str:
    """The one line of a refused write (no value): the entry, the version(s), the limit, and
    what to do."""
    shown = ", ".join(str(v) for v in versions)
    return (
        f"{where}: {write} would destroy version {shown}, which a consumer is pinned to "
        f"(max_versions {max_versions}); run `titan-deploy up` first to move the consumers to "
        "the current version, or raise the limit: bao kv metadata put -max-versions=N "
        f"{where.split(':', 1)[-1]}"
    )


def pin_findings(where: str, secret: str, states: list[PinState]) -> list[Finding]:
    """B007 (error) per pinned version the backend lost, B008 (warning) per one it may lose."""
    out = []
    for state in states:
        if state.lost:
            out.append(
                error(
                    "B007",
                    f"{where}: pinned version {state.version} is {state.why}: its consumers "
                    "cannot be rendered again (e.g. after the agent restarts)",
                    secret=secret,
                    fix="titan-deploy up (pins the current version and moves the consumers)",
                )
            )
        else:
            out.append(
                warning(
                    "B008",
                    f"{where}: pinned version {state.version}: {state.why}",
                    secret=secret,
                    fix="titan-deploy up (moves the consumers and labels every pinned version)",
                )
            )
    return out
