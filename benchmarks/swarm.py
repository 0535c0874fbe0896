"""Swarm costs (issue 13, item 7; README "Several hosts"): `rotate hmac` on Swarm per group of
services next to a raw `docker service update` of the same services, and `--swarm verify` per
(service, secret) pair.

On the demo stack deployed with `--swarm up` (demo/docker-compose.swarm.yml), in a temp copy of
the project with a random project name: `--swarm verify` RUNS times (seconds per pair), then
`--swarm rotate hmac` (each repoint+verify step: the stack deploy that rolls the group, then
convergence and verify of every task), then, as the floor of each group, `docker service update
--force` of the same services (one rolling update to converged, Swarm's own cost of swapping a
secret).

The swarm is a single-node one on an extra dockerd in a network namespace of its own
(tests/netnsdocker.py: the same dockerd binary and host as the main engine, its own data root and
unix socket, the demo images copied by `docker save | docker load`), so the main engine's swarm
state is never changed (on Docker 20.10, `swarm init`/`leave` break the DNS of the compose
stacks running there). The lab is removed at the end. Needs root, `ip`, `nsenter`, `unshare`.
Usage:
    python benchmarks/swarm.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.demo import build_demo_images, make_demo  # noqa: E402
from tests.netnsdocker import Lab, NsEngine, lab_problem, swarm_init  # noqa: E402

SWARM = ("-f", "demo/docker-compose.swarm.yml", "--swarm")
DEMO_IMAGES = (
    "titan-demo/postgres:latest",
    "titan-demo/base:bookworm",
    "titan-demo/standin:latest",
)


def td(demo, node: NsEngine, *args: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [*demo.td_argv(), *SWARM, "--json", *args], capture_output=True, check=False, env=node.env
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return json.loads(done.stdout), seconds


def measure(demo, node: NsEngine, runs: int) -> dict:
    """Up, verify `runs` times, rotate hmac, the raw service updates, down."""
    td(demo, node, "up", "--timeout", "300")
    times = []
    for _ in range(runs):
        report, seconds = td(demo, node, "verify")
        times.append(seconds)
    pairs = report["data"]["pairs"]
    result: dict = {
        "engine": f"dockerd {node.driver} in network namespace {node.netns}",
        "verify_seconds": min(times),
        "pairs": pairs,
        "verify_ms_per_pair": round(1000 * min(times) / pairs, 1),
        "groups": [],
    }
    rotation, total = td(demo, node, "rotate", "hmac")
    result["rotate_hmac_seconds"] = round(total, 1)
    for repoint, check in itertools.pairwise(rotation["rows"]):
        if repoint["action"] != "repoint" or check["action"] != "verify":
            continue
        services = repoint["step"].split(" -> ")[0].removeprefix("repoint ").split(", ")
        started = time.perf_counter()
        for service in services:
            node.docker(
                "service", "update", "--force", "--quiet", f"{demo.name}_{service}", timeout=600
            )
        floor = time.perf_counter() - started
        tool = float(repoint["seconds"]) + float(check["seconds"])
        result["groups"].append(
            {"services": services, "tool_seconds": round(tool, 1),
             "raw_service_update_seconds": round(floor, 1)}
        )  # fmt: skip
    td(demo, node, "down")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    problem = lab_problem()
    if problem:
        raise SystemExit(f"benchmarks/swarm.py needs {problem}")
    build_demo_images()
    lab = Lab()
    demo = None
    try:
        node = lab.engine("a")
        swarm_init(node)
        lab.load(node, *DEMO_IMAGES)
        with tempfile.TemporaryDirectory() as tmp:
            demo = make_demo(Path(tmp))
            result = measure(demo, node, options.runs)
    finally:
        if demo is not None:
            node.docker("stack", "rm", demo.name)
        lab.close()
    if options.json:
        print(json.dumps(result, indent=2))
        return
    print(f"verify: {result['verify_ms_per_pair']} ms per (service, secret) pair "
          f"({result['pairs']} pairs, best of {options.runs})")  # fmt: skip
    print(f"engine: {result['engine']}")
    print(f"rotate hmac: {result['rotate_hmac_seconds']} s")
    for group in result["groups"]:
        print(f"  {', '.join(group['services'])}: {group['tool_seconds']} s (raw docker service "
              f"update: {group['raw_service_update_seconds']} s)")  # fmt: skip


if __name__ == "__main__":
    main()
