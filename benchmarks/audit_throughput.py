"""Throughput and memory of the leak scanner against `grep -F -f` on a synthetic log.

    .venv/bin/python benchmarks/audit_throughput.py              # 1 GiB, the reference run
    .venv/bin/python benchmarks/audit_throughput.py --size-mb 64 # quick

Makes a log of realistic-ish lines (Docker timestamps, JSON, base64 and hex noise, `[MASKED]`)
in a temp dir, plants 8 random secrets (the manifest's names) in every encoding a few times each,
writes the secrets as files and their patterns as a file, then measures in the same run:

- `LC_ALL=C grep -c -F -f patterns FILE` (the C-locale grep is grep's fastest mode),
- the scanner: `python -m titan_deploy audit-logs --file FILE` when that command exists, else
  `scan_file` in a `python -c` subprocess,

and prints MB/s for both, the ratio and the scanner's peak RSS (GNU time's maximum RSS when
/usr/bin/time exists, else the process's own VmHWM). Goals: at least 0.5x grep's throughput, peak
RSS under 100 MB. Secret values travel in files, never in argv. The temp dir is removed at the end
unless --keep. A benchmark, never a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
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
GOAL_RATIO = 0.5
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
status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
hwm = status.split("VmHWM:")[1].split()[0] if "VmHWM:" in status else "0"
print(json.dumps({
    "hit_lines": len({h.line_no for h in result.hits}), "hits": len(result.hits),
    "dropped": result.dropped_hits, "masked": result.masked_lines, "lines": result.lines,
    "bytes": result.bytes, "elapsed": elapsed, "vmhwm_kib": int(hwm),
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


def write_log(path: Path, size: int, secrets: dict[str, bytes], rng: random.Random) -> int:
    """Write about `size` bytes of noise with every encoded form planted PLANTS_PER_FORM times.

    Returns the number of planted lines (each holds one leak)."""
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
    with path.open("wb") as out:
        for block in range(n_blocks):
            lines = rng.choices(pool, k=LINES_PER_BLOCK)
            for line in plants.get(block, []):
                lines.insert(rng.randrange(len(lines) + 1), line)
            out.write(b"".join(lines))
    return count


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


def audit_cli_exists() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "titan_deploy", "audit-logs", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return proc.returncode == 0 and "--file" in proc.stdout


def scanner_argv(secrets_dir: Path, log: Path, backend: str) -> tuple[list[str], str]:
    if not backend and audit_cli_exists():
        argv = [sys.executable, "-m", "titan_deploy", "-C", str(REPO)]
        argv += ["--secrets-dir", str(secrets_dir), "--json", "audit-logs", "--file", str(log)]
        return argv, "python -m titan_deploy audit-logs --file"
    argv = [sys.executable, "-c", SCAN_SNIPPET, str(secrets_dir), str(log), backend]
    return argv, "scan_file (python -c)"


def prepare(workdir: Path, size: int, seed: int) -> tuple[Path, Path, Path, int, int]:
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


def run(args: argparse.Namespace, workdir: Path) -> int:
    t0 = time.perf_counter()
    secrets_dir, patterns_file, log, planted, n_patterns = prepare(
        workdir, args.size_mb << 20, args.seed
    )
    size = log.stat().st_size
    print(
        f"log: {size / 1e6:.0f} MB, {n_patterns} patterns, {planted} planted leak lines "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    warm(log)
    gnu_time = Path("/usr/bin/time").exists()
    env_grep = ["env", "LC_ALL=C", "grep", "-c", "-F", "-f", str(patterns_file), str(log)]
    grep_rss = workdir / "grep.rss" if gnu_time else None
    grep, grep_s = timed(env_grep, grep_rss)
    grep_lines = int(grep.stdout.strip() or 0)

    argv, label = scanner_argv(secrets_dir, log, args.backend)
    scan_rss = workdir / "scan.rss" if gnu_time else None
    scan, scan_s = timed(argv, scan_rss)
    if scan.returncode not in (0, 1):
        print(f"scanner failed (exit {scan.returncode}):\n{scan.stderr[-2000:]}", file=sys.stderr)
        return 3
    report = json.loads(scan.stdout) if scan.stdout.strip().startswith("{") else {}
    if report.get("command") == "audit-logs":  # the CLI's JSON report: read its hits
        data = report["data"]
        report = {
            "hit_lines": len({hit["line"] for hit in data["hits"]}),
            "hits": len(data["hits"]),
            "backend": data.get("matcher", "?"),
        }
    rss_kib = max_rss_kib(scan_rss) or report.get("vmhwm_kib")

    grep_mbs, scan_mbs = size / 1e6 / grep_s, size / 1e6 / scan_s
    ratio = scan_mbs / grep_mbs
    rss_mb = (rss_kib or 0) / 1024
    print(
        f"grep -F -f (LC_ALL=C): {grep_s:6.2f} s {grep_mbs:7.0f} MB/s  "
        f"{grep_lines} matching lines  peak RSS {(max_rss_kib(grep_rss) or 0) / 1024:.0f} MB"
    )
    print(
        f"scanner [{label}, {report.get('backend', '?')}]: {scan_s:6.2f} s {scan_mbs:7.0f} MB/s  "
        f"{report.get('hit_lines', '?')} lines with hits ({report.get('hits', '?')} hits)  "
        f"peak RSS {rss_mb:.0f} MB"
    )
    if "elapsed" in report:
        print(
            f"  (scan alone, without interpreter start: {size / 1e6 / report['elapsed']:.0f} MB/s;"
            f" {report['lines']} lines, {report['masked']} [MASKED] lines)"
        )
    print(
        f"ratio scanner/grep: {ratio:.2f}x (goal >= {GOAL_RATIO}x: "
        f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}); peak RSS goal < {GOAL_RSS_MB} MB: "
        f"{'met' if rss_kib and rss_mb < GOAL_RSS_MB else 'MISSED'}"
    )
    agree = grep_lines == report.get("hit_lines") == planted
    print(f"hit lines agree (grep = scanner = planted): {'yes' if agree else 'NO'}")
    return 0 if agree else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="log size in MiB (1024)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--backend", default="", help="force a matcher (ahocorasick_rs, re): runs scan_file"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (path printed)")
    args = parser.parse_args()
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
