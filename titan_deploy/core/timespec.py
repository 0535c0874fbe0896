"""Times as text, to epoch seconds. PURE. The one parser of Docker's timestamps.

`parse_timestamp`: an RFC 3339 / ISO 8601 time as Docker prints it (`State.StartedAt`,
`2026-11-28T10:00:00.123456789Z`: nanoseconds, `Z` or an offset) or as an operator types it.
`parse_when`: `--since` / `--until` values: `10m`, `2h`, `1d`, epoch seconds, or such a time.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from titan_deploy.errors import UsageError

_FRACTION = re.compile(r"\.(\d+)")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float, option: str) -> int:
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return int(now - float(relative[1]) * _UNITS[relative[2]])
    if text.isdigit():
        return int(text)
    stamp = parse_timestamp(text)
    if stamp is None:
        raise UsageError(
            f"{option} {text!r}: expected 10m / 2h / 1d, epoch seconds or an ISO 8601 time"
        )
    return int(stamp)


def parse_timestamp(text: str) -> float | None:
    """An RFC 3339 / ISO 8601 time as epoch seconds (fraction kept to the microsecond); None
    for '', Docker's zero time (`0001-01-01T00:00:00Z`: never started) or text that is not a
    time. `Z` or `z` is UTC, as is a time without an offset; any number of fraction digits."""
    text = text.strip()
    if not text or text.startswith("0001-"):
        return None
    fraction = _FRACTION.search(text)
    micros = 0.0
    if fraction:  # Python < 3.11 takes at most 6 digits: parse the fraction apart
        digits = fraction[1][:6]
        micros = int(digits) / 10 ** len(digits)
        text = text[: fraction.start()] + text[fraction.end() :]
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp() + micros
