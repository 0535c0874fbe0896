"""What `verify` costs per (container, secret) pair at 10, 20 and 40 containers of one consumer,
next to the engine's floor measured in the same run (issue 15, goal 2: <= 5 ms per pair, flat).

On the demo stack (titan-scavenger, 4 secrets each, scaled with compose; the other demo services
stay at one container each), each scale runs, interleaved, N times:
- `verify`: `ops/verify.run_verify` in process, as one CLI run does it (its files parsed again),
  wall time and this process's CPU;
- floor 1, `inspect`: one list call and one inspect of every consumer container through the SDK,
  in parallel (16 threads): what any tool must ask the engine;
- floor 2, `inspect + exec cat`: floor 1, plus one `exec cat <its secret files>` per container
  (SDK exec_create + exec_start, in parallel): reading each container once the way a script
  would, with no /proc. The bytes read are dropped, never printed.
Medians; ms per pair; the ratio of verify to each floor; the load average before and after (the
machine is shared: the figures are noisy). No test asserts on time.

Usage: python benchmarks/verify_cost.py [--runs 5] [--scales 10,20,40]
(benchmarks/up_overhead.py runs it too, after its `up` comparison).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.demo import DEMO_FILES, build_demo_images, make_demo  # noqa: E402

GOAL_MS = 5.0
WORKERS = 16
SERVICE = "titan-scavenger"


def compose_argv(demo) -> list[str]:
    argv = ["docker", "compose", "--project-directory", str(demo.root), "-p", demo.name]
    for file in [*DEMO_FILES, "docker-compose.secrets.yml"]:
        argv += ["-f", str(demo.root / file)]
    return argv


def scale_to(demo, count: int) -> None:
    """SERVICE at `count` containers, all healthy; a second try when a healthcheck timed out
    (on a loaded machine), then compose's own error."""
    up = ["up", "-d", "--wait", "--wait-timeout", "300", "--pull", "never"]
    argv = [*compose_argv(demo), *up, "--scale", f"{SERVICE}={count}"]
    for attempt in (1, 2):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        print(f"  (scale to {count}, try {attempt}: {done.stderr.strip()[-300:]})", flush=True)
    sys.exit(f"could not scale {SERVICE} to {count}")


def consumer_paths(project) -> dict[str, list[str]]:
    """service -> the secret paths inside its containers (the overlay plan verify reads)."""
    from titan_deploy.ops.render import current_plan

    plan = current_plan(project)
    return {s.service: [m.container_path for m in s.mounts] for s in plan.services}


def floor_inspect(client, name: str, paths: dict[str, list[str]]) -> list[dict]:
    """List the project's containers, inspect every consumer's, in parallel (the SDK)."""
    api = client.api
    found = api.containers(all=True, filters={"label": [f"com.docker.compose.project={name}"]})
    ids = [c["Id"] for c in found if c["Labels"].get("com.docker.compose.service") in paths]
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(api.inspect_container, ids))


def floor_exec_cat(client, name: str, paths: dict[str, list[str]]) -> int:
    """floor_inspect, then one `cat` of its secret files in each container (in parallel);
    returns how many containers answered (their bytes are dropped)."""
    api = client.api
    attrs = floor_inspect(client, name, paths)

    def cat(doc: dict) -> bool:
        files = paths[doc["Config"]["Labels"]["com.docker.compose.service"]]
        exec_id = api.exec_create(doc["Id"], ["cat", *files], stdout=True, stderr=False)["Id"]
        api.exec_start(exec_id)  # the values stay in this frame, never printed
        return True

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(cat, attrs))


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def verify_cost(
    demo,
    scales: list[int],
    runs: int = 5,
    files: list[str] | None = None,
    service: str = SERVICE,
    scale=None,
) -> list[dict]:
    """Scale `service` to each count, measure (module docstring), print one line per scale.
    `demo`: a stack with `root` and `name`; `files`: its compose files (default the demo's,
    [] for the manifest's); `scale(count)`: how to scale it (default compose --wait)."""
    scale = scale or (lambda count: scale_to(demo, count))
    import docker

    from titan_deploy.core import yamlcache
    from titan_deploy.ops import stack
    from titan_deploy.ops.verify import run_verify
    from titan_deploy.project import Project

    project = Project(
        project_dir=demo.root,
        compose_file_options=list(DEMO_FILES if files is None else files),
        project_name=demo.name,
    )
    client = docker.from_env(max_pool_size=WORKERS)
    paths = consumer_paths(project)
    results = []
    print(f"\nverify per (container, secret) pair, median of {runs} (load average {load()}):")
    for count in scales:
        scale(count)
        times: dict[str, list[float]] = {"verify": [], "cpu": [], "inspect": [], "exec": []}
        report = None
        for _ in range(runs):
            yamlcache.clear()  # each run parses its files, as one CLI run does
            started, cpu = time.perf_counter(), time.process_time()
            report = run_verify(project, stack.real())
            times["verify"].append(time.perf_counter() - started)
            times["cpu"].append(time.process_time() - cpu)
            started = time.perf_counter()
            floor_inspect(client, demo.name, paths)
            times["inspect"].append(time.perf_counter() - started)
            started = time.perf_counter()
            floor_exec_cat(client, demo.name, paths)
            times["exec"].append(time.perf_counter() - started)
        assert report is not None
        if not report.ok:
            print(f"  verify NOT ok: {report.summary}")
        pairs = sum(row["containers"] for row in report.rows)
        containers = len({c for c in _consumer_ids(client, demo.name, paths)})
        ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
        per = ms["verify"] / pairs
        results.append({"scale": count, "pairs": pairs, "containers": containers, **ms})
        print(
            f"  {service} x{count:<3d} {containers:3d} containers {pairs:4d} pairs: verify "
            f"{ms['verify']:7.1f} ms = {per:5.2f} ms/pair (goal <= {GOAL_MS:.0f}: "
            f"{'met' if per <= GOAL_MS else 'MISSED'}; CPU {ms['cpu']:.0f} ms) | floor inspect "
            f"{ms['inspect']:6.1f} ms ({ms['inspect'] / pairs:4.2f} ms/pair), ratio "
            f"{ms['verify'] / ms['inspect']:4.2f} | floor inspect+exec cat {ms['exec']:6.1f} ms "
            f"({ms['exec'] / pairs:4.2f} ms/pair), ratio {ms['verify'] / ms['exec']:4.2f}",
            flush=True,
        )
    print(f"  (load average after: {load()}; 2 shared cores: the figures are noisy)")
    return results


def _consumer_ids(client, name: str, paths: dict[str, list[str]]) -> list[str]:
    found = client.api.containers(filters={"label": [f"com.docker.compose.project={name}"]})
    return [c["Id"] for c in found if c["Labels"].get("com.docker.compose.service") in paths]


def busybox_cost(scales: list[int], runs: int) -> None:
    """The same measure on the tests' busybox stack (tests/integration/stackkit.py: `signer`,
    2 secrets, scaled; `reader`, 1 secret), without healthchecks: where the demo's healthchecks
    time out on an overloaded machine, this still measures verify itself."""
    from tests.integration.images import ensure_busybox_image
    from tests.integration.stackkit import make_stack

    with tempfile.TemporaryDirectory() as tmp:
        stack = make_stack(Path(tmp), ensure_busybox_image())
        for svc in ("signer", "reader"):
            stack.edit_compose(lambda doc, s=svc: doc["services"][s].pop("healthcheck"))

        def scale(count: int) -> None:
            done = stack.compose("up", "-d", "--scale", f"signer={count}")
            if done.returncode != 0:
                sys.exit(f"could not scale signer to {count}: {done.stderr[-300:]}")

        try:
            assert stack.td("render").returncode == 0, stack.outputs[-1]
            verify_cost(stack, scales, runs, files=[], service="signer", scale=scale)
        finally:
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scales", default="10,20,40")
    parser.add_argument(
        "--stack",
        choices=["demo", "busybox"],
        default="demo",
        help="busybox: the tests' stack without healthchecks (for an overloaded machine)",
    )
    args = parser.parse_args()
    if args.stack == "busybox":
        busybox_cost([int(x) for x in args.scales.split(",")], args.runs)
        return
    build_demo_images()
    with tempfile.TemporaryDirectory() as tmp:
        demo = make_demo(Path(tmp))
        try:
            up = demo.td("up", "--timeout", "300")
            if up.returncode != 0:  # a healthcheck timed out on a loaded machine: once more
                up = demo.td("up", "--timeout", "300")
            if up.returncode != 0:
                sys.exit(f"the demo stack did not come up:\n{up.output[-3000:]}")
            verify_cost(demo, [int(x) for x in args.scales.split(",")], args.runs)
        finally:
            demo.down()


if __name__ == "__main__":
    main()
