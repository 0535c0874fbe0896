"""Reading a container's logs (issue 15): the tool's `Engine.logs` (the multiplexed stream read
in 1 MiB blocks, frames split by the tool) next to the SDK's own stream (two reads per line),
with `docker logs` to /dev/null as the floor, on one container that printed N MiB of ~100-byte
lines to stdout and stderr. Interleaved runs, medians; wall and this process's CPU seconds.

    .venv/bin/python benchmarks/log_read.py [--mb 64] [--runs 3]

Needs an engine and the busybox test image (tests/integration/images.py builds it). Removes
only the container it made. A benchmark, never a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.images import ensure_busybox_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64, help="MiB the container prints (64)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from titan_deploy.io.engine import connect

    image = ensure_busybox_image()
    name = f"tdbench-logs-{os.getpid()}"
    lines = (args.mb << 20) // 100
    script = (
        f"i=0; while [ $i -lt {lines // 1000} ]; do j=0; while [ $j -lt 500 ]; do "
        'echo "out $i $j ................................................................'
        '....................."; echo "err $i $j ..........................................'
        '..........................................." >&2; j=$((j+1)); done; i=$((i+1)); done'
    )
    argv = ["docker", "run", "--name", name, image, "sh", "-c", script]
    subprocess.run(argv, check=True, capture_output=True)
    try:
        engine = connect()
        api = engine.client.api

        def tool() -> int:
            return sum(len(c) for c in engine.logs(name, timestamps=True))

        def sdk() -> int:
            return sum(len(c) for c in api.logs(name, stream=True, follow=False, timestamps=True))

        def cli() -> int:
            subprocess.run(["sh", "-c", f"docker logs --timestamps {name} >/dev/null 2>&1"])
            return 0

        times: dict[str, list[tuple[float, float]]] = {"docker logs": [], "sdk": [], "tool": []}
        size = tool()
        for _ in range(args.runs):
            for label, fn in (("docker logs", cli), ("sdk", sdk), ("tool", tool)):
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                times[label].append((time.perf_counter() - wall, time.process_time() - cpu))
        med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        print(f"{size / 1e6:.0f} MB of log (timestamps), medians of {args.runs}:")
        for label in times:
            print(
                f"  {label:12s} {med[label]:6.2f} s wall ({size / 1e6 / med[label]:6.1f} MB/s), "
                f"CPU here {cpu[label]:5.2f} s"
            )
        print(
            f"  ratio tool / docker logs {med['tool'] / med['docker logs']:.2f}; "
            f"sdk / tool {med['sdk'] / med['tool']:.1f}"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


if __name__ == "__main__":
    main()
