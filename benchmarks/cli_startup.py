"""What `titan-deploy check-secrets` costs over a bare interpreter start (issues 2 and 15).

Runs `python -c pass` and the installed console script `titan-deploy check-secrets` (on a temp
copy of the project whose secrets dir holds valid random values, so the command exits 0)
interleaved, N runs each after one warm-up, and prints both medians, the difference and the
ratio. Goal (issue 15): difference <= 100 ms. The package is byte-compiled first, as `pip
install` does (a PYTHONDONTWRITEBYTECODE environment would otherwise compile it on every run).
Only measures; asserts nothing.

Usage: python benchmarks/cli_startup.py [--runs 15] [--importtime]
  --importtime also prints the 15 slowest imports of one `python -X importtime` run.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 100.0


def console_script() -> Path:
    script = Path(sys.executable).parent / "titan-deploy"
    if script.exists():
        return script
    found = shutil.which("titan-deploy")
    if not found:
        sys.exit("titan-deploy is not installed next to this python nor on PATH")
    return Path(found)


def make_project(root: Path) -> Path:
    """A copy of the Titan project with a valid secrets dir (random values, right modes)."""
    import yaml

    project = root / "project"
    project.mkdir()
    for name in ("secrets.manifest.yml", "docker-compose.prod.yml", "docker-compose.secrets.yml"):
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(REPO / "secrets.example", project / "secrets.example")
    shutil.copytree(REPO / "templates", project / "templates")  # the configs' templates
    manifest = yaml.safe_load((project / "secrets.manifest.yml").read_text())
    gid = manifest.get("secrets_gid")
    store = project / manifest.get("secrets_dir", "secrets")
    store.mkdir()
    if gid is not None:
        os.chown(store, -1, gid)
    os.chmod(store, 0o750 if gid is not None else 0o700)
    for name, spec in manifest["secrets"].items():
        if spec["kind"] == "hex":
            value = secrets.token_hex(spec["bytes"])
        else:
            value = secrets.token_urlsafe(max(32, spec.get("min_length", 0)))
        path = store / name
        path.write_text(value)
        if gid is not None:
            os.chown(path, -1, gid)
        os.chmod(path, 0o640 if gid is not None else 0o600)
    return project


CPU_MS: dict[str, list[float]] = {}


def timed(argv: list[str]) -> float:
    """Wall ms of one run; its CPU ms (user+sys, from the children's rusage) go to CPU_MS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_MS.setdefault(argv[-1], []).append(cpu * 1000)
    if done.returncode != 0:
        sys.exit(f"{argv} exited {done.returncode}:\n{done.stdout.decode()}{done.stderr.decode()}")
    return elapsed * 1000


def importtime(argv: list[str]) -> None:
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        rows.append((int(cumulative), name))
    print("slowest imports (cumulative us):")
    for cumulative, name in sorted(rows, reverse=True)[:15]:
        print(f"  {cumulative:>8}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    runs = max(args.runs, 7)
    script = console_script()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "titan_deploy")], check=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp))
        bare = [sys.executable, "-c", "pass"]
        tool = [str(script), "-C", str(project), "check-secrets"]
        timed(bare), timed(tool)  # warm-up: page cache, .pyc files
        bare_ms, tool_ms = [], []
        for _ in range(runs):
            bare_ms.append(timed(bare))
            tool_ms.append(timed(tool))
        if args.importtime:
            importtime(tool)
    bare_median = statistics.median(bare_ms)
    tool_median = statistics.median(tool_ms)
    diff = tool_median - bare_median
    print(f"runs: {runs} each, interleaved; console script: {script}")
    print(f"python -c pass:              median {bare_median:7.1f} ms")
    print(f"titan-deploy check-secrets:  median {tool_median:7.1f} ms")
    verdict = "ok" if diff <= GOAL_MS else "OVER GOAL"
    print(f"difference:                  {diff:7.1f} ms  (goal <= {GOAL_MS:.0f} ms: {verdict})")
    print(f"ratio check-secrets / bare:  {tool_median / bare_median:7.2f}")
    bare_cpu, tool_cpu = (statistics.median(CPU_MS[k]) for k in ("pass", "check-secrets"))
    print(
        f"CPU (user+sys) medians: bare {bare_cpu:.1f} ms, check-secrets {tool_cpu:.1f} ms, "
        f"difference {tool_cpu - bare_cpu:.1f} ms (on a loaded machine the wall time waits for "
        "a CPU; the CPU shows the work)"
    )


if __name__ == "__main__":
    main()
