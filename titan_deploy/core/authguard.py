"""The rotation guard (manifest `auth_guard`, README "Rotation runbook") as pure functions: read
a counter out of a Prometheus text exposition, and decide from two snapshots whether it
increased.

Parsing is prometheus-client's (`text_string_to_metric_families`): the exposition format has
enough corners (escaping, HELP/TYPE lines, `_total` suffixes, exemplars) that a maintained parser
beats a regex. A snapshot maps container id -> (service, value). Counters reset when a container
is recreated, so a container that is new in the second snapshot counts from zero: every failure
it has seen happened during the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Snapshot = Mapping[str, tuple[str, float]]  # container id -> (service, counter value)


class MetricsParseError(ValueError):
    """The text is not a Prometheus exposition, or the metric is not in it."""


def counter_value(text: str, metric: str) -> float:
    """The sum of every sample of `metric` (all label sets). Raises MetricsParseError."""
    from prometheus_client.parser import text_string_to_metric_families

    names = {metric, f"{metric}_total"}
    total, found = 0.0, False
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in names:
                    total += float(sample.value)
                    found = True
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsParseError(
            f"not a Prometheus text exposition ({type(exc).__name__})"
        ) from None
    if not found:
        raise MetricsParseError(f"no {metric} in the metrics")
    return total


@dataclass(frozen=True)
class Increase:
    by_service: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.by_service.values())

    def describe(self) -> str:
        parts = [f"{s} +{v:g}" for s, v in sorted(self.by_service.items()) if v > 0]
        return ", ".join(parts) or "none"


def increase(before: Snapshot, after: Snapshot) -> Increase:
    """How much the counter grew between two snapshots, per service (never negative)."""
    out: dict[str, float] = {}
    for container, (service, value) in after.items():
        base = before.get(container, (service, 0.0))[1]
        out[service] = out.get(service, 0.0) + max(0.0, value - base)
    return Increase(out)


SETTLE_COUNT = 2  # how much more of `settle_on` each container must show to end the window


def flowed(before: Snapshot, after: Snapshot, at_least: int = SETTLE_COUNT) -> bool:
    """Whether every container in `after` served at least `at_least` more of the traffic counter
    than in `before` (a container new in `after` counts from zero); False when `after` holds
    no container (nothing proved)."""
    return bool(after) and all(
        value - before.get(container, (service, 0.0))[1] >= at_least
        for container, (service, value) in after.items()
    )


def tripped(change: Increase, threshold: int) -> bool:
    return change.total > threshold
