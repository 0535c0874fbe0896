"""How long each rotation procedure takes on the demo stack, step by step (issue 4, item 7).

On a fresh demo stack (plain demo files: prod healthchecks every 5 s), runs in order:
HMAC phase 1, HMAC phase 2 (--force), DB (rotate db), exchange (rotate exchange binance with a
pair registered at the demo exchange). For each: wall time, every step's time (from the JSON
report), and — polled every 0.3 s inside the containers for the whole procedure — messages brain
signed, deliveries it saw rejected, and the listeners' auth failures. Rejected must be 0.

Runs in a temp copy of the project with its own secrets and a random project name; removes only
that project. Usage:
    python benchmarks/rotation.py [--stop-timeout N] [--json]
--stop-timeout: seconds a replaced container gets to stop (compose's default is 10; the demo
stand-ins stop on SIGTERM, so a recreate no longer waits it out).
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.demo import build_demo_images, make_demo  # noqa: E402
from tests.integration.rotation_kit import Traffic  # noqa: E402


def td(demo, *args: str, stdin: bytes | None = None) -> tuple[int, dict, float]:
    argv = [*demo.td_argv(), "--json", *args]
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = {"error": done.stderr.decode(errors="replace")[-500:]}
    return done.returncode, doc, seconds


def register_pair(demo, tmp: Path) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    files = []
    for name in ("key", "secret"):
        path = tmp / f"binance-{name}"
        path.touch(mode=0o600)
        path.write_text("".join(secrets.choice(alphabet) for _ in range(64)))
        files.append(str(path))
    subprocess.run(
        [
            sys.executable,
            str(demo.root / "demo/register_exchange_key.py"),
            "binance",
            *files,
            "--registry",
            str(demo.root / ".titan-deploy/demo"),
        ],
        check=True,
        capture_output=True,
    )
    return files


def measure(demo, label: str, args: list[str]) -> dict:
    with Traffic(demo.name) as traffic:
        code, doc, seconds = td(demo, *args)
        time.sleep(1.0)
    steps = [
        {"n": r["n"], "phase": r["phase"], "action": r["action"], "seconds": r["seconds"]}
        for r in doc.get("rows", [])
    ]
    return {
        "procedure": label,
        "exit_code": code,
        "outcome": (doc.get("data") or {}).get("outcome") or doc.get("error"),
        "total_s": round(seconds, 2),
        "steps": steps,
        "signed": int(traffic.signed),
        "accepted": int(traffic.accepted),
        "rejected": int(traffic.rejected),
        "auth_failures": int(traffic.auth_failures),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-timeout", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    extra = ["--stop-timeout", str(args.stop_timeout)] if args.stop_timeout is not None else []
    build_demo_images()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = make_demo(Path(tmp))
        try:
            up = demo.td("up", "--timeout", "240")
            if up.returncode != 0:
                print(up.output[-3000:], file=sys.stderr)
                return 3
            time.sleep(3)
            files = register_pair(demo, Path(tmp))
            runs = [
                ("hmac phase 1", ["rotate", "hmac", *extra]),
                ("hmac phase 2", ["rotate", "hmac", "--finish", "--force", *extra]),
                ("db", ["rotate", "db", *extra]),
                (
                    "exchange binance",
                    [
                        "rotate",
                        "exchange",
                        "binance",
                        "--from-file",
                        files[0],
                        "--from-file",
                        files[1],
                        *extra,
                    ],
                ),
            ]
            for label, argv in runs:
                results.append(measure(demo, label, argv))
        finally:
            demo.down()
    if args.json:
        print(json.dumps({"stop_timeout": args.stop_timeout, "results": results}, indent=2))
    else:
        report(results, args.stop_timeout)
    return 0 if all(r["rejected"] == 0 and r["exit_code"] == 0 for r in results) else 1


def report(results: list[dict], stop_timeout: int | None) -> None:
    print(f"stop timeout: {stop_timeout if stop_timeout is not None else 'compose default (10 s)'}")
    for r in results:
        print(
            f"\n{r['procedure']}: {r['total_s']:.1f} s, exit {r['exit_code']} ({r['outcome']}); "
            f"signed {r['signed']}, accepted {r['accepted']}, rejected {r['rejected']}, "
            f"listener auth failures {r['auth_failures']}"
        )
        for step in r["steps"]:
            seconds = "-" if step["seconds"] is None else f"{step['seconds']:.2f}"
            print(f"  {step['phase']:8} {step['n']:>2} {step['action']:16} {seconds:>6} s")


if __name__ == "__main__":
    sys.exit(main())
