"""The auth-failure guard's reads during a rotation (README "Rotation"): each guard endpoint's
counter, scraped inside every running container of its service.

The runner reads a snapshot before the first step and after every step that touches the stack;
the containers are scraped in parallel (each scrape is an exec: a round trip to the engine and a
process in the container), so a snapshot costs about one scrape, not one per container (issue
15). What is read, and when a failure fails the step, is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from titan_deploy.core import authguard
from titan_deploy.core.containers import ContainerInfo
from titan_deploy.core.manifest_model import AuthGuard
from titan_deploy.errors import TitanError
from titan_deploy.ops.rotate.runner import StepFailed

SCRAPE_ATTEMPTS = 3
RETRY_PAUSE = 0.5  # seconds between two attempts at one container's counter
MAX_SCRAPES = 8  # scrapes in flight at once

T = TypeVar("T")


def snapshot(engine: Any, project: str, guard: AuthGuard) -> authguard.Snapshot:
    """Key -> (label, counter value) of every running container of every guard endpoint's
    service in `project` (the guard's `metric`, then each of its `counters`), read in parallel,
    one scrape per container and URL however many counters it serves. For `metric` the key is
    the container id and the label its service; for another counter the key is "<id> <metric>"
    and the label "<service> <metric>", so that an increase names the counter (a recreated
    container still counts from zero: its id is new). Raises StepFailed naming the first
    container (in endpoint order) whose counters could not be read after SCRAPE_ATTEMPTS."""
    wanted: dict[tuple[str, str], list[str]] = {}  # (service, url) -> metrics, in guard order
    for metric, service, url in guard.watched():
        wanted.setdefault((service, url), []).append(metric)
    services = list(dict.fromkeys(service for service, _ in wanted))
    found = _parallel(lambda s: engine.containers(project, s), services)
    listed = dict(zip(services, found, strict=True))
    targets = [
        (service, url, info, metrics)
        for (service, url), metrics in wanted.items()
        for info in listed[service]
        if info.status == "running"
    ]
    values = _parallel(lambda t: scrape_all(engine, t[2], t[1], t[3]), targets)
    out = {}
    for (service, _, info, metrics), read in zip(targets, values, strict=True):
        for metric, value in zip(metrics, read, strict=True):
            if metric == guard.metric:
                out[info.id] = (service, value)
            else:
                out[f"{info.id} {metric}"] = (f"{service} {metric}", value)
    return out


def scrape(engine: Any, info: ContainerInfo, url: str, metric: str) -> float:
    """`metric`'s value at `url` inside the container (scrape_all)."""
    return scrape_all(engine, info, url, [metric])[0]


def scrape_all(engine: Any, info: ContainerInfo, url: str, metrics: list[str]) -> list[float]:
    """Each of `metrics`' values at `url` inside the container (wget through the engine's
    exec, once), with SCRAPE_ATTEMPTS tries. Raises StepFailed saying why (never a value: a
    counter)."""
    problem = ""
    for attempt in range(SCRAPE_ATTEMPTS):
        try:
            result = engine.exec(info.id, scrape_argv(url), timeout=15)
        except TitanError as exc:
            problem = str(exc)
        else:
            if result.exit_code == 0:
                try:
                    text = result.stdout.decode("utf-8")
                    return [authguard.counter_value(text, metric) for metric in metrics]
                except (authguard.MetricsParseError, UnicodeDecodeError) as exc:
                    problem = str(exc)
            else:
                problem = f"wget exit {result.exit_code}"
        if attempt + 1 < SCRAPE_ATTEMPTS:
            time.sleep(RETRY_PAUSE)
    raise StepFailed(f"cannot read {', '.join(metrics)} from {info.name} at {url}: {problem}")


def scrape_argv(url: str) -> list[str]:
    """wget inside the container (busybox or GNU); the URL passed the manifest's validation.
    No -T: busybox 1.35's wget crashes with it; the exec itself has a deadline."""
    return ["wget", "-q", "-O", "-", url]


def _parallel(fn: Callable[[Any], T], items: list[Any]) -> list[T]:
    """fn over items in order; the first exception (in item order) is raised."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(MAX_SCRAPES, len(items))) as pool:
        return list(pool.map(fn, items))
