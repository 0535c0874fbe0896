"""What titan-deploy costs on top of compose, on the demo stack (issue 3, item 9).

1. `up`: from the same cold state (`down -v` before every run), raw
   `docker compose up -d --wait` vs `titan-deploy up` (check-secrets, render, lint, compose up,
   verify), interleaved, N runs each: medians and ratio. Goal: ratio <= 1.25.
2. `verify`: time per (container, secret) pair at 10, 20 and 40 containers of a consumer service
   next to two floors measured in the same run (benchmarks/verify_cost.py says how).
   Goal (issue 15): <= 5 ms per pair, flat as containers grow.

Runs in a temp copy of the project with its own secrets and a random project name; removes only
that project. Usage: python benchmarks/up_overhead.py [--runs 3] [--scales 10,20,40]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.verify_cost import verify_cost  # noqa: E402
from tests.integration.demo import DEMO_FILES, build_demo_images, make_demo  # noqa: E402


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scales", default="10,20,40")
    parser.add_argument("--only", choices=["up", "verify"], help="run one of the two parts")
    args = parser.parse_args()
    build_demo_images()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        demo = make_demo(Path(tmp))
        try:
            if args.only != "verify":
                compare_up(demo, args.runs)
            if args.only != "up":
                verify_cost(demo, [int(x) for x in args.scales.split(",")])
        finally:
            demo.down()


def compose_argv(demo) -> list[str]:
    argv = ["docker", "compose", "--project-directory", str(demo.root), "-p", demo.name]
    for file in [*DEMO_FILES, "docker-compose.secrets.yml"]:
        argv += ["-f", str(demo.root / file)]
    return argv


def compare_up(demo, runs: int) -> None:
    raw = [*compose_argv(demo), "up", "-d", "--wait", "--wait-timeout", "240", "--pull", "never"]
    tool = [*demo.td_argv(), "up", "--timeout", "240"]
    down = [*compose_argv(demo), "down", "--volumes", "--timeout", "5"]
    timings: dict[str, list[float]] = {"compose": [], "titan-deploy": []}
    assert subprocess.run(tool, capture_output=True).returncode == 0  # renders the overlay
    for i in range(runs):
        for label, argv in (("compose", raw), ("titan-deploy", tool)):
            subprocess.run(down, check=True, capture_output=True)
            seconds = timed(argv)
            timings[label].append(seconds)
            print(f"run {i + 1} {label:13s} {seconds:6.2f} s", flush=True)
    raw_median = statistics.median(timings["compose"])
    tool_median = statistics.median(timings["titan-deploy"])
    print(f"\nup, median of {runs}: compose {raw_median:.2f} s, titan-deploy {tool_median:.2f} s")
    print(f"ratio titan-deploy / compose = {tool_median / raw_median:.3f} (goal <= 1.25)")


if __name__ == "__main__":
    main()
