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
    service in `project` (the guard's `metric`, then each of its `counters`), read in parallel.
    For `metric` the key is the container id and the label its service; for another counter
    the key is "<id> <metric>" and the label "<service> <metric>", so that an increase names
    the counter (a recreated container still counts from zero: its id is new). Raises
    StepFailed naming the first container (in endpoint order) whose counter could not be read
    after SCRAPE_ATTEMPTS."""
    watched = list(guard.watched())
    services = sorted({service for _, service, _ in watched})
    found = _parallel(lambda s: engine.containers(project, s), services)
    listed = dict(zip(services, found, strict=True))
    targets = [
        (metric, service, url, info)
        for metric, service, url in watched
        for info in listed[service]
        if info.status == "running"
    ]
    values = _parallel(lambda t: scrape(engine, t[3], t[2], t[0]), targets)
    out = {}
    for (metric, service, _, info), value in zip(targets, values, strict=True):
        if metric == guard.metric:
            out[info.id] = (service, value)
        else:
            out[f"{info.id} {metric}"] = (f"{service} {metric}", value)
    return out


def scrape(engine: Any, info: ContainerInfo, url: str, metric: str) -> float:
    """`metric`'s value at `url` inside the container (wget through the engine's exec), with
    SCRAPE_ATTEMPTS tries. Raises StepFailed saying why (never a value: a counter)."""
    problem = ""
    for attempt in range(SCRAPE_ATTEMPTS):
        try:
            result = engine.exec(info.id, scrape_argv(url), timeout=15)
        except TitanError as exc:
            problem = str(exc)
        else:
            if result.exit_code == 0:
                try:
                    return authguard.counter_value(result.stdout.decode("utf-8"), metric)
                except (authguard.MetricsParseError, UnicodeDecodeError) as exc:
                    problem = str(exc)
            else:
                problem = f"wget exit {result.exit_code}"
        if attempt + 1 < SCRAPE_ATTEMPTS:
            time.sleep(RETRY_PAUSE)
    raise StepFailed(f"cannot read {metric} from {info.name} at {url}: {problem}")


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
