"""Waiting in tests without a fixed sleep: poll a condition until it holds, with a bound.

The bound is a hang guard, never a timing assertion: a slow machine waits longer, a fast one
not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.05
) -> T:
    """Call `condition` every `interval` seconds until it returns something truthy; return that.

    Fails the test (AssertionError naming `what`) when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)
