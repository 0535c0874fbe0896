"""Swarm costs (issue 13, item 7; README "Several hosts"): `rotate hmac` on Swarm per group of
services next to a raw `docker service update` of the same services, and `--swarm verify` per
(service, secret) pair.

On the demo stack deployed with `--swarm up` (demo/docker-compose.swarm.yml), in a temp copy of
the project with a random project name: `--swarm verify` RUNS times (seconds per pair), then
`--swarm rotate hmac` (each repoint+verify step: the stack deploy that rolls the group, then
convergence and verify of every task), then, as the floor of each group, `docker service update
--force` of the same services (one rolling update to converged, Swarm's own cost of swapping a
secret). The engine is made a single-node swarm only when it is in none, and left again at the
end; only this project's stack and objects are removed. Usage:
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

SWARM = ("-f", "demo/docker-compose.swarm.yml", "--swarm")


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout


def td(demo, *args: str) -> tuple[dict, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [*demo.td_argv(), *SWARM, "--json", *args], capture_output=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return json.loads(done.stdout), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    build_demo_images()
    created = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    if created:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    demo = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            demo = make_demo(Path(tmp))
            td(demo, "up", "--timeout", "300")
            times = []
            for _ in range(options.runs):
                report, seconds = td(demo, "verify")
                times.append(seconds)
            pairs = report["data"]["pairs"]
            result: dict = {
                "verify_seconds": min(times),
                "pairs": pairs,
                "verify_ms_per_pair": round(1000 * min(times) / pairs, 1),
                "groups": [],
            }
            rotation, total = td(demo, "rotate", "hmac")
            result["rotate_hmac_seconds"] = round(total, 1)
            rows = rotation["rows"]
            for repoint, check in itertools.pairwise(rows):
                if repoint["action"] != "repoint" or check["action"] != "verify":
                    continue
                services = repoint["step"].split(" -> ")[0].removeprefix("repoint ").split(", ")
                started = time.perf_counter()
                for service in services:
                    docker("service", "update", "--force", "--quiet", f"{demo.name}_{service}")
                floor = time.perf_counter() - started
                tool = float(repoint["seconds"]) + float(check["seconds"])
                result["groups"].append(
                    {"services": services, "tool_seconds": round(tool, 1),
                     "raw_service_update_seconds": round(floor, 1)}
                )  # fmt: skip
            td(demo, "down")
    finally:
        if demo is not None:
            docker("stack", "rm", demo.name)
        if created:
            docker("swarm", "leave", "--force")
    if options.json:
        print(json.dumps(result, indent=2))
        return
    print(f"verify: {result['verify_ms_per_pair']} ms per (service, secret) pair "
          f"({result['pairs']} pairs, best of {options.runs})")  # fmt: skip
    print(f"rotate hmac: {result['rotate_hmac_seconds']} s")
    for group in result["groups"]:
        print(f"  {', '.join(group['services'])}: {group['tool_seconds']} s (raw docker service "
              f"update: {group['raw_service_update_seconds']} s)")  # fmt: skip


if __name__ == "__main__":
    main()
