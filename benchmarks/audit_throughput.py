"""Throughput and memory of the leak scanner against ripgrep `rg -F -f` on a synthetic log
(issue 15, goal 1), and of container logs against the engine's own log read.

    .venv/bin/python benchmarks/audit_throughput.py              # 1 GiB, the reference run
    .venv/bin/python benchmarks/audit_throughput.py --size-mb 64 # quick

Needs ripgrep (`apt-get install -y ripgrep`): without it the benchmark says so and stops.

Makes a log of realistic-ish lines (Docker timestamps, JSON, base64 and hex noise, `[MASKED]`)
in a temp dir, plants 8 random secrets (the manifest's names) in every encoding a few times each,
writes the secrets as files and their patterns (`build_patterns`: every form of
core/encodings.py) as a file, reads the log once (page cache warm for both), then runs in turn,
A B A B ... (`--runs` each, medians), in the C locale:

- `rg -F -n -f patterns FILE` (ripgrep; -n: line numbers, as the scanner reports them),
- the scanner: `python -m titan_deploy audit-logs --file FILE` (whole process, interpreter
  start included),

and prints both medians, MB/s, the ratio rg/scanner (goal >= 1: the scanner at least as fast),
the peak RSS of each (GNU time's maximum RSS; the scanner's forked range scanners included,
goal < 100 MB), and whether the hit lines agree: ripgrep's line numbers = the scanner's = the
planted lines. `--grep` adds one run of `grep -F -f` for reference. With `--container-mb N` (and
an engine), also a container that prints N MiB of the same log: `audit-logs` on its project vs
`docker logs` to /dev/null (the engine's own read, the floor). Secret values travel in files,
never in argv. The temp dir is removed at the end unless --keep. A benchmark, never a test:
nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from titan_deploy.core.leaks import build_patterns  # noqa: E402

SECRET_NAMES = (
    "titan_db_password",
    "titan_hmac_secret",
    "binance_api_key",
    "binance_api_secret",
    "bybit_api_key",
    "bybit_api_secret",
    "gemini_api_key",
    "grafana_admin_password",
)
PLANTS_PER_FORM = 3
LINES_PER_BLOCK = 4096
GOAL_RATIO = 1.0  # rg time / scanner time
WORDS = """order filled cancelled position risk limit breach heartbeat nats redis connected latency
symbol BTCUSDT ETHUSDT qty price side buy sell pnl websocket reconnect signal hmac verified
execution sentinel scavenger hunter regime volatility"""
GOAL_RSS_MB = 100

SCAN_SNIPPET = """
import json, sys, time
from pathlib import Path
from titan_deploy.core.leaks import build_patterns
from titan_deploy.io.logscan import scan_file
secrets = {p.name: [p.read_bytes()] for p in sorted(Path(sys.argv[1]).iterdir())}
start = time.perf_counter()
patterns = build_patterns(secrets, backend=sys.argv[3] or None)
result = scan_file(sys.argv[2], patterns, timestamps=True)
elapsed = time.perf_counter() - start
print(json.dumps({
    "lines_hit": sorted({h.line_no for h in result.hits}), "hits": len(result.hits),
    "masked": result.masked_lines, "lines": result.lines, "elapsed": elapsed,
    "backend": patterns.matcher.backend,
}))
"""


def make_secrets(rng: random.Random) -> dict[str, bytes]:
    """Values shaped like the manifest's kinds: hex keys, passwords with punctuation, API keys."""
    punct = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789/+=!%&?"\\'
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    values = {}
    for name in SECRET_NAMES:
        if name == "titan_hmac_secret":
            value = rng.randbytes(32).hex()
        elif "password" in name:
            value = "".join(rng.choices(punct, k=28))
        elif name.endswith("_secret"):
            value = base64.b64encode(rng.randbytes(33)).decode()
        else:
            value = "".join(rng.choices(alnum, k=40))
        values[name] = value.encode()
    return values


def encoded_forms(value: bytes, rng: random.Random) -> list[bytes]:
    """How a value leaks in the wild; base64 forms sit inside longer blobs at every alignment."""
    forms = [
        value,
        quote(value, safe="").encode(),
        value.hex().encode(),
        value.hex().upper().encode(),
    ]
    forms.append(json.dumps(value.decode())[1:-1].encode())
    for k in range(3):
        for altchars in (None, b"-_"):
            blob = (
                rng.randbytes(3 * rng.randint(0, 4) + k) + value + rng.randbytes(rng.randint(0, 9))
            )
            forms.append(base64.b64encode(blob, altchars))
    return forms


def noise_pool(rng: random.Random, size: int = 50_000) -> list[bytes]:
    """Distinct noise lines; the log is drawn from them (generating 1 GiB line by line is slow)."""
    words = WORDS.split()
    pool = []
    for i in range(size):
        ts = f"2026-11-28T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i:09d}Z"
        kind = rng.random()
        if kind < 0.35:
            text = " ".join(rng.choices(words, k=rng.randint(4, 14)))
            msg = f"INFO {text} id={rng.getrandbits(64):x}"
        elif kind < 0.65:
            record = {
                "level": rng.choice(["info", "debug", "warn"]),
                "msg": " ".join(rng.choices(words, k=5)),
                "order_id": rng.getrandbits(48),
                "price": round(rng.random() * 1e5, 2),
                "api_key": "[MASKED]" if rng.random() < 0.2 else None,
            }
            msg = json.dumps(record)
        elif kind < 0.85:
            msg = f"DEBUG payload={base64.b64encode(rng.randbytes(rng.randint(20, 300))).decode()}"
        else:
            msg = f"WARN digest={rng.randbytes(rng.randint(8, 48)).hex()} retry={rng.randint(0, 9)}"
        pool.append(f"{ts} {msg}\n".encode())
    return pool


def write_log(path: Path, size: int, secrets: dict[str, bytes], rng: random.Random) -> list[int]:
    """Write about `size` bytes of noise with every encoded form planted PLANTS_PER_FORM times.

    Returns the (1-based) numbers of the planted lines (each holds one leak)."""
    pool = noise_pool(rng)
    avg = sum(map(len, pool)) / len(pool)
    n_blocks = max(1, round(size / (avg * LINES_PER_BLOCK)))
    plants: dict[int, list[bytes]] = {}
    count = 0
    for value in secrets.values():
        for form in encoded_forms(value, rng):
            for _ in range(PLANTS_PER_FORM):
                line = (
                    f"2026-11-28T10:00:00.{count:09d}Z WARN debug dump ".encode() + form + b" end\n"
                )
                plants.setdefault(rng.randrange(n_blocks), []).append(line)
                count += 1
    planted: list[int] = []
    line_no = 0
    with path.open("wb") as out:
        for block in range(n_blocks):
            lines = rng.choices(pool, k=LINES_PER_BLOCK)
            mine = plants.get(block, [])
            for line in mine:
                lines.insert(rng.randrange(len(lines) + 1), line)
            planted += [line_no + i + 1 for i, line in enumerate(lines) if line in mine]
            line_no += len(lines)
            out.write(b"".join(lines))
    return planted


def timed(argv: list[str], rss_file: Path | None) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run argv (under GNU time -v when `rss_file` is given), return its result and wall time."""
    if rss_file is not None:
        argv = ["/usr/bin/time", "-v", "-o", str(rss_file), *argv]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    return proc, time.perf_counter() - start


def max_rss_kib(rss_file: Path | None) -> int | None:
    if rss_file is None or not rss_file.exists():
        return None
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", rss_file.read_text())
    return int(found.group(1)) if found else None


def cpu_seconds(rss_file: Path) -> float:
    """User + system CPU seconds of a run (its children included), from GNU time -v: on a
    shared, loaded machine the CPU a tool needs is steadier than its wall time."""
    text = rss_file.read_text() if rss_file.exists() else ""
    found = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)
    return sum(map(float, found))


def scanner_argv(secrets_dir: Path, log: Path, backend: str) -> list[str]:
    """The CLI on the file, or with --backend the library (`scan_file`) with that matcher."""
    if not backend:
        argv = [sys.executable, "-m", "titan_deploy", "-C", str(REPO)]
        argv += ["--secrets-dir", str(secrets_dir), "--json", "audit-logs"]
        return [*argv, "--file", str(log)]
    return [sys.executable, "-c", SCAN_SNIPPET, str(secrets_dir), str(log), backend]


def prepare(workdir: Path, size: int, seed: int) -> tuple[Path, Path, Path, list[int], int]:
    """Secrets dir (0700, files 0600), patterns file, log; planted and pattern counts."""
    rng = random.Random(seed)
    secrets = make_secrets(rng)
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(mode=0o700)
    for name, value in secrets.items():
        fd = os.open(secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(value)
    patterns = build_patterns({name: [value] for name, value in secrets.items()})
    patterns_file = workdir / "patterns"
    fd = os.open(patterns_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"".join(p + b"\n" for p in patterns.patterns))
    log = workdir / "synthetic.log"
    planted = write_log(log, size, secrets, rng)
    return secrets_dir, patterns_file, log, planted, len(patterns.patterns)


def warm(path: Path) -> None:
    """Read the file once so both tools start from the page cache, not from the disk."""
    with path.open("rb", buffering=0) as stream:
        while stream.read(8 << 20):
            pass


def scanner_lines(stdout: str) -> tuple[set[int], str]:
    """The hit line numbers and matcher of a scanner run (CLI JSON report or the snippet's)."""
    doc = json.loads(stdout) if stdout.strip().startswith("{") else {}
    if doc.get("command") == "audit-logs":
        return {hit["line"] for hit in doc["data"]["hits"]}, doc["data"].get("matcher", "?")
    return set(doc.get("lines_hit", [])), doc.get("backend", "?")


def median_row(label: str, seconds: list[float], size: int, rss: list[int]) -> str:
    mid = statistics.median(seconds)
    return (
        f"{label:34} median {mid:6.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f})  "
        f"{size / 1e6 / mid:6.0f} MB/s  peak RSS {max(rss, default=0) / 1024:5.0f} MB"
    )


def run(args: argparse.Namespace, workdir: Path) -> int:
    t0 = time.perf_counter()
    secrets_dir, patterns_file, log, planted, n_patterns = prepare(
        workdir, args.size_mb << 20, args.seed
    )
    size = log.stat().st_size
    print(
        f"log: {size / 1e6:.0f} MB, {n_patterns} patterns (every encoding of 8 secrets), "
        f"{len(planted)} planted leak lines (generated in {time.perf_counter() - t0:.1f} s)"
    )
    warm(log)
    rg = ["env", "LC_ALL=C", "rg", "-F", "-n", "--no-heading", "-f", str(patterns_file), str(log)]
    scan = ["env", "LC_ALL=C", *scanner_argv(secrets_dir, log, args.backend)]
    times: dict[str, list[float]] = {"rg": [], "scan": []}
    rss: dict[str, list[int]] = {"rg": [], "scan": []}
    cpu: dict[str, list[float]] = {"rg": [], "scan": []}
    outputs: dict[str, str] = {}
    for i in range(args.runs + 1):  # the first pair warms up: not counted
        for key, argv in (("rg", rg), ("scan", scan)):
            rss_file = workdir / f"{key}.rss"
            proc, seconds = timed(argv, rss_file)
            if proc.returncode not in (0, 1):
                print(
                    f"{key} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}",
                    file=sys.stderr,
                )
                return 3
            outputs[key] = proc.stdout
            if i:
                times[key].append(seconds)
                rss[key].append(max_rss_kib(rss_file) or 0)
                cpu[key].append(cpu_seconds(rss_file))
    rg_lines = {int(line.split(":", 1)[0]) for line in outputs["rg"].splitlines() if line}
    scan_hit_lines, backend = scanner_lines(outputs["scan"])
    print(f"runs: {args.runs} each, interleaved (rg, scanner, rg, ...), after one warm-up pair")
    print(median_row("rg -F -n -f (ripgrep, LC_ALL=C)", times["rg"], size, rss["rg"]))
    print(median_row(f"audit-logs --file [{backend}]", times["scan"], size, rss["scan"]))
    ratios = [r / s for r, s in zip(times["rg"], times["scan"], strict=True)]
    ratio = statistics.median(ratios)
    rss_mb = max(rss["scan"], default=0) / 1024
    print(
        f"ratio rg time / scanner time: median {ratio:.2f} (pairs {min(ratios):.2f}-"
        f"{max(ratios):.2f}; goal >= {GOAL_RATIO:.1f}: "
        f"{'met' if ratio >= GOAL_RATIO else 'MISSED'})"
        f"; scanner peak RSS {rss_mb:.0f} MB (goal < {GOAL_RSS_MB} MB: "
        f"{'met' if 0 < rss_mb < GOAL_RSS_MB else 'MISSED'})"
    )
    print(
        f"CPU seconds (user+sys, medians): rg {statistics.median(cpu['rg']):.2f}, scanner "
        f"{statistics.median(cpu['scan']):.2f} (all its processes; the wall time is what counts, "
        "the CPU shows what a loaded machine did to it)"
    )
    agree = rg_lines == scan_hit_lines == set(planted)
    print(
        f"hit lines: planted {len(planted)}, rg {len(rg_lines)}, scanner {len(scan_hit_lines)}; "
        f"identical: {'yes' if agree else 'NO'}"
    )
    if args.grep:
        grep = ["env", "LC_ALL=C", "grep", "-c", "-F", "-f", str(patterns_file), str(log)]
        _, grep_s = timed(grep, None)
        print(f"grep -F -f (LC_ALL=C, one run): {grep_s:.2f} s, {size / 1e6 / grep_s:.0f} MB/s")
    if args.container_mb:
        container_logs(workdir, log, secrets_dir, args.container_mb << 20)
    return 0 if agree else 1


def container_logs(workdir: Path, log: Path, secrets_dir: Path, size: int) -> None:
    """A container prints `size` bytes of the log; `audit-logs` on its project (the same
    scanner, over the engine's log stream) vs `docker logs` to /dev/null (the engine's read)."""
    part = workdir / "container.log"
    with log.open("rb") as src, part.open("wb") as out:
        data = src.read(size)
        out.write(data[: data.rfind(b"\n") + 1])
    name = f"tdbench-{os.getpid()}"
    image = "titan-test/busybox:1"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode:
        print(f"container logs: skipped ({image} missing: run the integration tests once)")
        return
    labels = [f"com.docker.compose.project={name}", "com.docker.compose.service=bench-logger"]
    argv = ["docker", "run", "--name", name, "-v", f"{part}:/bench.log:ro"]
    argv += [arg for label in labels for arg in ("--label", label)]
    subprocess.run([*argv, image, "cat", "/bench.log"], check=True, capture_output=True)
    try:
        read = ["sh", "-c", f"docker logs --timestamps {name} >/dev/null 2>&1"]
        audit = [sys.executable, "-m", "titan_deploy", "-C", str(REPO), "-p", name]
        audit += ["--secrets-dir", str(secrets_dir), "--json", "audit-logs"]
        times: dict[str, list[float]] = {"read": [], "audit": []}
        for i in range(4):
            for key, cmd in (("read", read), ("audit", audit)):
                _, seconds = timed(cmd, None)
                if i:
                    times[key].append(seconds)
        got = part.stat().st_size
        read_s, audit_s = statistics.median(times["read"]), statistics.median(times["audit"])
        print(
            f"container logs ({got / 1e6:.0f} MB, 3 runs each, medians): docker logs "
            f"{read_s:.2f} s ({got / 1e6 / read_s:.0f} MB/s); audit-logs {audit_s:.2f} s "
            f"({got / 1e6 / audit_s:.0f} MB/s); ratio audit/docker logs {audit_s / read_s:.2f}"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def compile_package() -> None:
    """Byte-compile the package first, as `pip install` does for an operator: a
    PYTHONDONTWRITEBYTECODE environment would otherwise make every run compile it again."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "titan_deploy")], check=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="log size in MiB (1024)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--backend", default="", help="force a matcher (hyperscan, ahocorasick_rs, re): scan_file"
    )
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each (5)")
    parser.add_argument("--grep", action="store_true", help="add one run of grep -F -f")
    parser.add_argument(
        "--container-mb", type=int, default=0, help="also container logs of this size (MiB)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (path printed)")
    args = parser.parse_args()
    if not shutil.which("rg"):
        print("ripgrep (rg) is the baseline and is not installed: apt-get install -y ripgrep")
        return 2
    compile_package()
    workdir = Path(tempfile.mkdtemp(prefix="titan-audit-bench-", dir=args.dir))
    try:
        return run(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
