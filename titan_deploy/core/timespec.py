"""`--since` / `--until` values as operators type them: `10m`, `2h`, `1d`, epoch seconds, or an
ISO 8601 time (`2026-11-28T10:00:00Z`). Pure; returns epoch seconds."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from titan_deploy.errors import UsageError

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: float, option: str) -> int:
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return int(now - float(relative[1]) * _UNITS[relative[2]])
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected 10m / 2h / 1d, epoch seconds or an ISO 8601 time"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(stamp.timestamp())
