"""The operator's choices for one rotate command, as one frozen value.

Built in one place, from the CLI's options (cli/rotate.py `_settings`); every rotate op takes it
whole. Units: seconds for every timeout and `settle`, hours for `min_age_hours`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RotateSettings:
    timeout: int = 180  # seconds each recreated service gets to become healthy (`--timeout`)
    log_timeout: float = 60.0  # seconds each consumer gets to log verify_log (`--log-timeout`)
    stop_timeout: int | None = None  # seconds a replaced container gets to stop (compose -t)
    settle: float = 2.0  # seconds of traffic after a verify before the guard reads its counter
    threshold: int | None = None  # guard threshold (None: the manifest's, else 0)
    dry_run: bool = False  # print the plan, change nothing
    secret: str | None = None  # the secret (None: the only one that fits)
    force: bool = False  # hmac --finish: do not wait for the minimum age
    min_age_hours: float | None = None  # hmac --finish: how old phase 1 must be (None: manifest)
