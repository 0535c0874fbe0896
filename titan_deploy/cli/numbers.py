"""Numeric command-line options checked at parse time: finite, within sane bounds (exit 2).

click's int/float types accept `nan`, `inf`, `1e400` and negative numbers; a timeout of `nan`
seconds or a threshold of -1 would then fail deep inside an operation (or wait forever). Every
numeric option of the CLI uses one of these types instead, so a bad number is a usage error
before anything runs.
"""

from __future__ import annotations

import math
from typing import Any

from titan_deploy.cli.clickapi import Context, Parameter, types

WEEK_S = 7 * 24 * 3600
TEN_YEARS_H = 10 * 365 * 24


class Bounded(types.ParamType):
    """A finite int or float in [minimum, maximum] (minimum excluded when `positive`)."""

    def __init__(
        self, kind: type, *, maximum: float, positive: bool = False, unit: str = ""
    ) -> None:
        self.kind = kind
        self.maximum = maximum
        self.positive = positive
        self.unit = unit
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> Any:
        number = self._parse(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!s} is not a finite number", param, ctx)
        low_ok = number > 0 if self.positive else number >= 0
        if not low_ok or number > self.maximum:
            self.fail(f"{value!s} is not {self.describe()}", param, ctx)
        return self.kind(number)

    def describe(self) -> str:
        low = "greater than 0" if self.positive else "0 or more"
        unit = f" {self.unit}" if self.unit else ""
        maximum = int(self.maximum) if float(self.maximum).is_integer() else self.maximum
        whole = "a whole number " if self.kind is int else "a number "
        return f"{whole}{low}, at most {maximum}{unit}"

    def _parse(self, value: Any, param: Parameter | None, ctx: Context | None) -> float:
        if isinstance(value, bool):
            self.fail(f"{value!s} is not a number", param, ctx)
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        try:
            return int(text, 10) if self.kind is int else float(text)
        except ValueError:
            self.fail(f"{text!s} is not {self.describe()}", param, ctx)


def seconds(*, positive: bool = True, maximum: float = WEEK_S, whole: bool = True) -> Bounded:
    """Seconds: a timeout (positive) or a pause (0 allowed), at most a week by default."""
    return Bounded(int if whole else float, maximum=maximum, positive=positive, unit="seconds")


def hours() -> Bounded:
    """Hours, 0 or more, at most ten years."""
    return Bounded(float, maximum=TEN_YEARS_H, unit="hours")


def count(maximum: int = 1_000_000_000) -> Bounded:
    """A whole number, 0 or more."""
    return Bounded(int, maximum=maximum)
