"""Leak patterns: every form in which a secret value may show up in a log line (ARCHITECTURE.md
invariant 1).

PURE: no I/O. `build_patterns` turns secret values into a `PatternSet` (byte patterns, a map from
each pattern back to the (secret, encoding) pairs it stands for, the names of secrets too short to
search, and one compiled matcher: core/matchers.py); `hits_in_line` says which (secret, encoding)
pairs a line contains. Streaming over files and log streams lives in `titan_deploy.io.logscan`.

The encodings searched (raw, base64 at every alignment in both alphabets, URL, hex, JSON) and the
minimum length are core/encodings.py's: the redactor hides the same forms.

Multi-line values (PEM keys, multi-line text) are searched line by line: a raw multi-line value
can never appear within one log line, but each of its secret lines can (`secretvalue.
secret_lines`: no PEM armour, no headers, no certificate). The encoded forms of the whole value
(which hold no newline) are searched too.

Weak values (`secretvalue.weakness`: short, word-like, few distinct characters, equal to a name)
are searched only as whole tokens: an occurrence counts only when the bytes around it are not
word characters (letters, digits, `_`, `-`), so `nextcloud` is not found in `nextcloud-app-1`.
And no occurrence counts that lies inside a string the tool itself renders (`SearchContext`:
`/run/secrets/<name>`, secret, service and project names, the secrets dir path).

API (what `audit-logs` and `verify` need):
    search_context(secrets, services, projects, paths) -> SearchContext
    build_patterns({"name": [value, older_value], ...}, context=...) -> PatternSet
        (.skipped: not searched, .weak: searched as whole tokens only)
    hits_in_line(line, patterns) -> [(secret, encoding), ...]
    group_by_secret({file name: value}, names) -> {secret: [values]}  (versions join their secret)
Encoding names are those of ENCODINGS: `raw`, `base64@K` / `base64url@K` (K = bytes before the
value in its 3-byte group), `url`, `hex`, `HEX`, `json`.

Safety: nothing here ever puts a value, a pattern or a fragment of one into a repr, a str or an
exception message; reprs show counts only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from titan_deploy.core.encodings import (  # noqa: F401 (re-exported: the encoding names)
    B64_ALPHABETS,
    ENCODINGS,
    HEX_LOWER,
    HEX_UPPER,
    JSON,
    MIN_LENGTH,
    RAW,
    URL,
    b64_aligned,
    b64_encoding_name,
    encoded_forms,
)
from titan_deploy.core.matchers import Matcher, make_matcher
from titan_deploy.core.secretvalue import secret_lines, weakness
from titan_deploy.core.versions import owner, secondary_target

SECRETS_MOUNT = "/run/secrets"

MIN_SECRET_LENGTH = MIN_LENGTH
"""Values (or lines of a multi-line value) shorter than this (in bytes, after trimming) are not
searched: core/encodings.py's one minimum-length rule."""

MIN_LINE_LENGTH = 16
"""Lines of a multi-line value shorter than this are not searched: `[client]`, `host=db` or the
short last line of a PEM body say nothing (the value's other lines and its encoded forms do)."""

WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
"""A weak value's occurrence counts only between bytes that are not these (or a line's edge)."""

Origin = tuple[str, str]
"""(secret name, encoding name): what a pattern stands for. Never the value."""

encodings_of = encoded_forms
"""Every (encoding, pattern) pair for one value: core/encodings.py's one set of forms."""


@dataclass(frozen=True, repr=False)
class PatternSet:
    """Everything needed to scan for a set of secrets; safe to print (counts only).

    `patterns` are unique and sorted; `origins[p]` lists every (secret, encoding) that pattern `p`
    stands for (two versions or two secrets may share a value); `skipped` names the secrets that
    had a value too short to search; `matcher` finds them all in one pass. `token_only` patterns
    (from weak values, named in `weak`) count only as whole tokens; `exclusions` are the tool's
    own strings, inside which no occurrence counts (`excludable`: the patterns that can occur
    inside one, the only ones that need that check).
    """

    patterns: tuple[bytes, ...]
    origins: Mapping[bytes, tuple[Origin, ...]]
    skipped: tuple[str, ...]
    matcher: Matcher = field(compare=False)
    weak: tuple[str, ...] = ()
    token_only: frozenset[bytes] = frozenset()
    exclusions: tuple[bytes, ...] = ()
    excludable: frozenset[bytes] = frozenset()

    @property
    def max_length(self) -> int:
        """Longest pattern (0 if none): overlapping windows must share this length - 1 bytes."""
        return max(map(len, self.patterns), default=0)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Names of the secrets that are searched for."""
        return tuple(sorted({name for o in self.origins.values() for name, _ in o}))

    def __repr__(self) -> str:
        return (
            f"PatternSet(secrets={len(self.secrets)}, patterns={len(self.patterns)}, "
            f"skipped={len(self.skipped)}, weak={len(self.weak)}, "
            f"backend={self.matcher.backend})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class SearchContext:
    """What a leak search must know besides the values: `names` (secrets, services, project) a
    value equal to is weak, and `exclusions`, strings the tool itself renders (mount paths, names,
    the secrets dir) inside which an occurrence is no leak."""

    names: tuple[str, ...] = ()
    exclusions: tuple[bytes, ...] = ()


def search_context(
    secrets: Iterable[str],
    services: Iterable[str] = (),
    projects: Iterable[str] = (),
    paths: Iterable[str] = (),
) -> SearchContext:
    """The context of one stack: its secret, service and project names, and `paths` (the
    secrets dir, as the manifest and the overlay write it and as an absolute path)."""
    secrets, services, projects = list(secrets), list(services), list(projects)
    names = tuple(dict.fromkeys(n for n in (*secrets, *services, *projects) if n))
    rendered: list[str] = [*names, *(p for p in paths if p)]
    for name in secrets:
        rendered += [f"{SECRETS_MOUNT}/{name}", f"{SECRETS_MOUNT}/{secondary_target(name)}"]
    exclusions = tuple(dict.fromkeys(text.encode("utf-8", "replace") for text in rendered))
    return SearchContext(names=names, exclusions=exclusions)


def searched(
    values: Mapping[str, bytes], names: Collection[str], skip: Collection[str]
) -> dict[str, bytes]:
    """{file name: value} without the files of the secrets in `skip` (`sensitive: false`)."""
    return {entry: v for entry, v in values.items() if (owner(entry, names) or entry) not in skip}


def group_by_secret(
    values: Mapping[str, bytes], names: Collection[str], skip: Collection[str] = ()
) -> dict[str, list[bytes]]:
    """{file name: value} (base files and `<name>.v<N>` versions) -> {secret: [values]}; a file
    no secret in `names` claims keeps its own name. Secrets in `skip` (`sensitive: false`:
    configuration such as a role name, which may rightly appear in logs) are left out."""
    grouped: dict[str, list[bytes]] = {}
    for entry, value in values.items():
        secret = owner(entry, names) or entry
        if secret not in skip:
            grouped.setdefault(secret, []).append(value)
    return grouped


@dataclass
class _Collector:
    """Patterns being gathered: origins, which are strong (substring) and which secrets skipped."""

    context: SearchContext
    origins: dict[bytes, list[Origin]] = field(default_factory=dict, repr=False)
    strong: set[bytes] = field(default_factory=set, repr=False)
    skipped: set[str] = field(default_factory=set)
    weak: set[str] = field(default_factory=set)

    def add_value(self, name: str, value: bytes) -> None:
        """One value: each secret line (weak ones as tokens), and for a multi-line value the
        encoded forms of the whole."""
        value = bytes(value).strip()
        multiline = b"\n" in value
        lines = secret_lines(value)
        units = [
            u for u in lines if len(u) >= (MIN_LINE_LENGTH if multiline else MIN_SECRET_LENGTH)
        ]
        if not units and not (multiline and lines):
            self.skipped.add(name)
            return
        for unit in units:
            token = weakness(unit, self.context.names) is not None
            if token:
                self.weak.add(name)
            for encoding, pattern in encodings_of(unit):
                self.add(name, encoding, pattern, strong=not token)
        if multiline:
            for encoding, pattern in encodings_of(value):
                self.add(name, encoding, pattern, strong=True)

    def add(self, name: str, encoding: str, pattern: bytes, strong: bool) -> None:
        if b"\n" in pattern:  # can never lie within one line
            return
        found = self.origins.setdefault(pattern, [])
        if (name, encoding) not in found:
            found.append((name, encoding))
        if strong:
            self.strong.add(pattern)


def build_patterns(
    secrets: Mapping[str, Iterable[bytes]],
    *,
    backend: str | None = None,
    context: SearchContext | None = None,
) -> PatternSet:
    """Every searchable form of every value of every secret, deduplicated, with one matcher.

    `secrets` maps a secret name to its values (several during a rotation). A value shorter than
    MIN_SECRET_LENGTH bytes (a line of a multi-line value: MIN_LINE_LENGTH) is not searched; a
    secret with a value that has nothing to search (nor any secret line: a certificate) is listed
    in `skipped`. A weak value is searched as a whole token only (its secret is in `weak`). A raw
    form that contains a newline can never appear within one log line and is left out (its
    encoded forms, which have no newline, are still searched). `context` supplies the names and
    the tool's own strings (`search_context`).
    """
    context = context or SearchContext()
    collector = _Collector(context)
    for name, values in secrets.items():
        for value in values:
            collector.add_value(name, value)
    origins = collector.origins
    patterns = tuple(sorted(origins))
    return PatternSet(
        patterns=patterns,
        origins={p: tuple(sorted(origins[p])) for p in patterns},
        skipped=tuple(sorted(collector.skipped)),
        matcher=make_matcher(patterns, backend),
        weak=tuple(sorted(collector.weak)),
        token_only=frozenset(p for p in patterns if p not in collector.strong),
        exclusions=context.exclusions,
        excludable=frozenset(p for p in patterns if any(p in e for e in context.exclusions)),
    )


def origins_in(text: bytes, patterns: PatternSet) -> set[Origin]:
    """Every (secret, encoding) whose pattern occurs in `text`, overlapping ones included.

    Checks each pattern on its own (a C-speed substring search), so that a pattern hidden inside or
    overlapping another one is still reported; callers run it only where the matcher found
    something.
    """
    found: set[Origin] = set()
    spans: list[tuple[int, int]] | None = None
    for pattern in patterns.patterns:
        if pattern not in text:
            continue
        token = pattern in patterns.token_only
        excludable = pattern in patterns.excludable
        if token or excludable:
            if excludable and spans is None:
                spans = _spans(text, patterns.exclusions)
            if not _counts(text, pattern, token, (spans or []) if excludable else []):
                continue
        found.update(patterns.origins[pattern])
    return found


def _spans(text: bytes, needles: Iterable[bytes]) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of every needle in `text`."""
    out = []
    for needle in needles:
        at = text.find(needle)
        while at >= 0:
            out.append((at, at + len(needle)))
            at = text.find(needle, at + 1)
    return out


def _counts(text: bytes, pattern: bytes, token: bool, spans: list[tuple[int, int]]) -> bool:
    """Whether some occurrence of `pattern` is a leak: a whole token if `token`, and not inside
    an excluded span."""
    at = text.find(pattern)
    while at >= 0:
        end = at + len(pattern)
        bounded = not token or (
            (at == 0 or text[at - 1] not in WORD_BYTES)
            and (end == len(text) or text[end] not in WORD_BYTES)
        )
        if bounded and not any(start <= at and end <= stop for start, stop in spans):
            return True
        at = text.find(pattern, at + 1)
    return False


def hits_in_line(line: bytes, patterns: PatternSet) -> list[Origin]:
    """Sorted (secret, encoding) pairs present in one line: one matcher pass, then a re-check."""
    if next(iter(patterns.matcher.starts(line)), None) is None:
        return []
    return sorted(origins_in(line, patterns))
