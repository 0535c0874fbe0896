"""Last line of defence for error text that came from outside the tool (compose's stderr).

Compose can echo what an operator pasted into a compose file — a secret value used as a key, for
instance (`additional properties 'X' not allowed`). Before any such text is shown, every known
secret value (and its base64 forms) is replaced by [REDACTED].
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

MIN_LENGTH = 8


def redact(text: str, values: Iterable[bytes]) -> str:
    for needle in sorted(_needles(values), key=len, reverse=True):
        text = text.replace(needle, "[REDACTED]")
    return text


def _needles(values: Iterable[bytes]) -> set[str]:
    out: set[str] = set()
    for value in values:
        value = value.strip()
        if len(value) < MIN_LENGTH:
            continue
        for form in (value, base64.b64encode(value), base64.urlsafe_b64encode(value)):
            out.add(form.decode("utf-8", "replace"))
    return out
