"""The one canary detector of the test suite: every string that would betray a secret value.

Tests give every secret a random value (a canary) and grep every output for it. `Canaries`
holds, for each value (and each line of a multi-line one, and the value without surrounding
whitespace): the raw text, its base64 (standard and URL-safe, padded or not) and its hex, and
every 12-character piece of each of those. A piece inside PEM armour or the fixed prefix of
every Ed25519 key betrays nothing and is left out. Searching is one Aho-Corasick pass, so a
container's whole log or every process's argv can be checked at once.

Used by the CLI canary tests (tests/cli/test_canary.py), the redaction tests, the hostile fuzz
test and every integration test that runs the tool (`assert_no_canary`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import ahocorasick_rs

WINDOW = 12
# Pieces of a value that are not secret (PEM armour, the fixed DER prefix of every Ed25519
# key): a window inside one of these betrays nothing.
PUBLIC_PIECES = (
    "-----BEGIN PRIVATE KEY-----\n",
    "-----END PRIVATE KEY-----\n",
    "MC4CAQAwBQYDK2VwBCIEI",
)


class Canaries:
    """Every string that would betray one of `values` (name -> raw bytes)."""

    def __init__(self, values: Mapping[str, bytes], window: int = WINDOW) -> None:
        self.window = window
        self.needles: dict[str, str] = {}
        for name, raw in values.items():
            self.add(name, raw)
        self._matcher: ahocorasick_rs.AhoCorasick | None = None

    def add(self, name: str, raw: bytes) -> None:
        """Learn one more value (each of its lines too when it has several)."""
        lines = raw.strip().split(b"\n")
        for i, line in enumerate(lines if len(lines) > 1 else []):
            self._add(f"{name} line {i + 1}", line)
        self._add(name, raw)
        if raw.strip() != raw:
            self._add(name, raw.strip())
        for needle in list(self.needles):
            if not needle.strip() or any(needle in piece for piece in PUBLIC_PIECES):
                del self.needles[needle]
        self._matcher = None

    def _add(self, name: str, raw: bytes) -> None:
        forms = {
            "raw": raw.decode("utf-8", "replace"),
            "base64": base64.b64encode(raw).decode(),
            "base64url": base64.urlsafe_b64encode(raw).decode(),
            "hex": raw.hex(),
        }
        for form, text in forms.items():
            self.needles[text] = f"{name} ({form})"
            self.needles[text.rstrip("=")] = f"{name} ({form})"
            for i in range(len(text.rstrip("=")) - self.window + 1):
                self.needles[text[i : i + self.window]] = f"{name} ({form}, piece at {i})"

    def found(self, text: str) -> list[str]:
        """What `text` betrays: `name (form[, piece at i])` for every needle in it, sorted."""
        if not self.needles or not text:
            return []
        if self._matcher is None:
            self._matcher = ahocorasick_rs.AhoCorasick(list(self.needles))
        hits = self._matcher.find_matches_as_strings(text, overlapping=True)
        return sorted({self.needles[hit] for hit in hits})

    def assert_clean(self, text: str, where: str) -> None:
        """Fail naming what `text` (found in `where`) betrays; never the value itself."""
        leaks = self.found(text)
        assert not leaks, f"{where} shows {leaks[:5]}"


def assert_no_canary(values: Mapping[str, bytes], texts: Iterable[str], where: str = "") -> None:
    """No value of `values` (name -> raw bytes), in any form or piece, in any of `texts`."""
    canaries = Canaries(values)
    for i, text in enumerate(texts):
        canaries.assert_clean(text, where or f"text {i}")
