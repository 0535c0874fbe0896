"""The manifest's regexes (`pattern`, `verify_log`) run on RE2: linear time in the input, always.

Python's `re` backtracks: a pattern such as `(a+)+$` takes exponential time on a short line, so a
hostile or careless manifest could hang `check-secrets` or a rotation while it holds the lock
(and `rotate resume`/`abort`, which read the pattern back from the journal). RE2 (the PyPI
package google-re2) guarantees time linear in the text and memory bounded by MAX_MEM; it has no
backreferences or lookaround, so such a pattern is refused when the manifest is loaded instead.
Pure: no I/O; errors never quote the text matched.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MAX_PATTERN = 4096
"""Characters in one manifest regex: a real key format or log line is far shorter."""

MAX_MEM = 8 << 20
"""Bytes RE2 may use for one compiled program (its default): a pattern beyond it is refused."""


class RegexError(ValueError):
    """A pattern RE2 cannot compile (backreference, lookaround, bad syntax, too big)."""


def check_pattern(pattern: str) -> None:
    """Compile `pattern` with RE2 or raise RegexError with RE2's reason (never a value)."""
    _compiled(pattern)


def fullmatch(pattern: str, text: str) -> bool:
    """Whether all of `text` matches `pattern` (linear time). Raises RegexError."""
    return _compiled(pattern).fullmatch(text) is not None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (linear time). Raises RegexError."""
    return _compiled(pattern).search(text) is not None


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    import re2  # google-re2; imported on first use so CLI start-up does not pay for it

    if not isinstance(pattern, str):
        raise RegexError("not a string")
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False  # RE2 would print the pattern to stderr
    options.max_mem = MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise RegexError(_reason(exc)) from None


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else "cannot compile"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return f"{reason} (RE2 syntax: no backreferences or lookaround)"
