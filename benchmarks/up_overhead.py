"""What titan-deploy costs on top of compose, on the demo stack (issue 3, item 9).

1. `up`: from the same cold state (`down -v` before every run), raw
   `docker compose up -d --wait` vs `titan-deploy up` (check-secrets, render, lint, compose up,
   verify), interleaved, N runs each: medians and ratio. Goal: ratio <= 1.25.
2. `verify`: time per (container, secret) read at 10, 20 and 40 containers of a consumer service
   (titan-scavenger, 4 secrets each, scaled with compose), median of 5 in-process runs each,
   next to its baseline measured in the same run: the engine's own floor, one `inspect` of
   every container of the project (list + inspects, in parallel), per pair.
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


def verify_cost(demo, scales: list[int]) -> None:
    from titan_deploy.core import yamlcache
    from titan_deploy.io.engine import connect
    from titan_deploy.ops import stack
    from titan_deploy.ops.verify import run_verify
    from titan_deploy.project import Project

    project = Project(
        project_dir=demo.root,
        compose_file_options=list(DEMO_FILES),
        project_name=demo.name,
    )
    print("\nverify cost per (container, secret) read:")
    for scale in scales:
        subprocess.run(
            [
                *compose_argv(demo),
                "up",
                "-d",
                "--wait",
                "--wait-timeout",
                "300",
                "--pull",
                "never",
                "--scale",
                f"titan-scavenger={scale}",
            ],
            check=True,
            capture_output=True,
        )
        engine = connect()
        runs, floors, cpus = [], [], []
        for _ in range(5):
            yamlcache.clear()  # each run parses its files, as one CLI run does
            started, cpu = time.perf_counter(), time.process_time()
            report = run_verify(project, stack.real())
            runs.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            started = time.perf_counter()
            engine.containers(demo.name)  # the floor: list + one inspect each, in parallel
            floors.append(time.perf_counter() - started)
        if not report.ok:
            print(f"  verify not ok: {report.summary}")
        reads = sum(row["containers"] for row in report.rows)
        median, base = statistics.median(runs), statistics.median(floors)
        print(
            f"  scavenger x{scale:3d}: {reads:4d} pairs, verify {median * 1000:7.1f} ms, "
            f"{median * 1000 / reads:5.2f} ms per pair (goal <= 5); inspect floor "
            f"{base * 1000:6.1f} ms ({base * 1000 / reads:4.2f} ms per pair), ratio "
            f"{median / base:4.1f}; verify CPU (this process) "
            f"{statistics.median(cpus) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
