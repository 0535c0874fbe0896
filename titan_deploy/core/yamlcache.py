"""The per-process parse cache of core/yamlpos.py (issue 15): one command used to parse every
compose file up to five times (render's plan, verify's plan and profiles, gather, the env-file
check); now each text is parsed once per process. Pure: memory only.

Keyed by (source, text), the text itself: an edited file is parsed again whatever its size or
timestamps, so the cache can never hand out a stale document. What it holds is never handed out
as it is: yamlpos gives every caller its own copy (`copy_value`). Bounded: at most CACHE_CHARS
characters of text, the oldest entries dropped first.
"""

from __future__ import annotations

from typing import Any

_PARSED: dict[tuple[str, str], Any] = {}
"""(source, text) -> the document parsed from it (a yamlpos.Located)."""

_CACHE_CHARS = 32 << 20
"""Most characters of text the cache holds (oldest entries go first)."""


def lookup(source: str, text: str) -> Any | None:
    """What `remember` stored for this text under this source, or None (the caller's to copy)."""
    return _PARSED.get((source, text))


def remember(source: str, text: str, parsed: Any) -> None:
    """Keep `parsed` for (source, text), dropping the oldest entries beyond _CACHE_CHARS (a text
    larger than that alone is not kept)."""
    if len(text) > _CACHE_CHARS:
        return
    _PARSED[(source, text)] = parsed
    keys = tuple(_PARSED)  # a snapshot: safe if another thread parses meanwhile
    total = sum(len(known) for _, known in keys)
    for oldest in keys:
        if total <= _CACHE_CHARS:
            break
        if _PARSED.pop(oldest, None) is not None:
            total -= len(oldest[1])


def holds(text: str) -> bool:
    """Whether this text was parsed whole (under any source): its bounds were checked then."""
    return any(known == text for _, known in tuple(_PARSED))


def clear() -> None:
    """Forget every document (a benchmark measuring a cold run)."""
    _PARSED.clear()


def copy_value(value: Any) -> Any:
    """A copy of plain YAML data: new dicts and lists; scalars (str, int, float, bool, None,
    date, bytes) are immutable and shared."""
    if type(value) is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if type(value) is list:
        return [copy_value(v) for v in value]
    return value
