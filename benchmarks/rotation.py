"""How long each rotation procedure takes on the demo stack, step by step (issue 4, item 7), next
to its floor (issue 15, goal 4).

On a fresh demo stack (plain demo files: prod healthchecks every 5 s), runs in order:
HMAC phase 1, HMAC phase 2 (--force), DB (rotate db), exchange (rotate exchange binance with a
pair registered at the demo exchange), NATS (rotate nats: its own floor, `measure_nats`). For
each: wall time, every step's time (from the JSON
report), and — polled every 0.3 s inside the containers for the whole procedure — messages brain
signed, deliveries it saw rejected, and the listeners' auth failures. Rejected must be 0.

Runs in a temp copy of the project with its own secrets and a random project name; removes only
that project.

The floor of a procedure, measured in the same run right after it: the sum, over its ordered
groups (each `repoint` step's services, read from its JSON rows), of one recreate-to-healthy of
that group (`docker compose up -d --wait --no-deps --force-recreate SERVICES`, the same stop
timeout). Goal: wall time <= 1.2x the floor. Usage:
    python benchmarks/rotation.py [--stop-timeout N] [--json] [--only hmac|db|exchange]
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
GOAL_RATIO = 1.2
sys.path.insert(0, str(REPO))

from tests.integration.demo import build_demo_images, make_demo  # noqa: E402
from tests.integration.rotation_kit import Traffic  # noqa: E402


def td(demo, *args: str, stdin: bytes | None = None) -> tuple[int, dict, float]:
    argv = [*demo.td_argv(), "--json", *args]
    started, before = time.perf_counter(), _children_cpu()
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    LAST_CPU[0] = _children_cpu() - before
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = {"error": done.stderr.decode(errors="replace")[-500:]}
    return done.returncode, doc, seconds


LAST_CPU = [0.0]


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: the CLI and the compose and
    docker processes it ran (not the engine's own)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def groups_of(rows: list[dict]) -> list[list[str]]:
    """The services of each `repoint` step, in order (from its description: `repoint A, B ->
    target | C -> target; recreate, wait healthy`)."""
    groups = []
    for row in rows:
        if row.get("action") != "repoint" or row.get("phase") == "rollback":
            continue
        text = str(row["step"]).removeprefix("repoint ").split("; recreate")[0]
        services = [s for part in text.split(" | ") for s in part.split(" -> ")[0].split(", ")]
        groups.append(list(dict.fromkeys(services)))
    return groups


def floor(demo, groups: list[list[str]], stop_timeout: int | None) -> float:
    """Seconds of one recreate-to-healthy of each group, one group after the other."""
    total = 0.0
    extra = ["--timeout", str(stop_timeout)] if stop_timeout is not None else []
    for services in groups:
        started = time.perf_counter()
        done = demo.compose(
            "up",
            "-d",
            "--wait",
            "--wait-timeout",
            "240",
            "--no-deps",
            "--force-recreate",
            "--pull",
            "never",
            *extra,
            *services,
        )
        total += time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"recreate {services} failed: {done.stderr[-500:]}")
    return total


def measure(demo, label: str, args: list[str], stop_timeout: int | None = None) -> dict:
    with Traffic(demo.name) as traffic:
        code, doc, seconds = td(demo, *args)
        time.sleep(1.0)
    steps = [
        {"n": r["n"], "phase": r["phase"], "action": r["action"], "seconds": r["seconds"]}
        for r in doc.get("rows", [])
    ]
    groups = groups_of(doc.get("rows", []))
    floor_s = floor(demo, groups, stop_timeout) if code == 0 else None
    return {
        "groups": groups,
        "floor_s": None if floor_s is None else round(floor_s, 2),
        "procedure": label,
        "exit_code": code,
        "outcome": (doc.get("data") or {}).get("outcome") or doc.get("error"),
        "total_s": round(seconds, 2),
        "cpu_s": round(LAST_CPU[0], 2),
        "steps": steps,
        "signed": int(traffic.signed),
        "accepted": int(traffic.accepted),
        "rejected": int(traffic.rejected),
        "auth_failures": int(traffic.auth_failures),
    }


# --- rotate nats (issue 12) ---------------------------------------------------------------------


NATS_SERVER = "nats"


def measure_nats(demo, extra: list[str], stop_timeout: int | None) -> dict:
    """`rotate nats` like the others, with its own floor: the clients' groups recreated to
    healthy one after the other, plus, for each of the server's two repoints, one reload
    (`nats-server --signal reload=1` run in it) until its next "Reloaded server configuration"
    line: the server is reloaded, never recreated. `rejected`: nats-server's refused logins
    during the rotation (must be 0)."""
    refused = _nats_refusals(demo)
    code, doc, seconds = td(demo, "rotate", "nats", *extra)
    rows = doc.get("rows", [])
    groups = groups_of(rows)
    clients = [g for g in groups if g != [NATS_SERVER]]
    floor_s = None
    if code == 0:
        reloads = sum(_reload_s(demo) for _ in range(len(groups) - len(clients)))
        floor_s = round(floor(demo, clients, stop_timeout) + reloads, 2)
    return {
        "groups": groups,
        "floor_s": floor_s,
        "procedure": "nats",
        "exit_code": code,
        "outcome": (doc.get("data") or {}).get("outcome") or doc.get("error"),
        "total_s": round(seconds, 2),
        "cpu_s": round(LAST_CPU[0], 2),
        "steps": [
            {"n": r["n"], "phase": r["phase"], "action": r["action"], "seconds": r["seconds"]}
            for r in rows
        ],
        "signed": 0,
        "accepted": 0,
        "rejected": _nats_refusals(demo) - refused,  # refused NATS logins: must be 0
        "auth_failures": 0,
    }


def _nats_refusals(demo) -> int:
    logs = demo.compose("logs", "--no-color", NATS_SERVER).stdout
    return logs.count("authentication error")


def _reload_s(demo) -> float:
    """Seconds from a reload command to the server's next reload line."""
    before = demo.compose("logs", "--no-color", NATS_SERVER).stdout.count("Reloaded server")
    started = time.perf_counter()
    demo.compose("exec", "-T", NATS_SERVER, "nats-server", "--signal", "reload=1")
    while time.perf_counter() - started < 60:
        logs = demo.compose("logs", "--no-color", NATS_SERVER).stdout
        if logs.count("Reloaded server") > before:
            break
        time.sleep(0.1)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-timeout", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--only",
        choices=["hmac", "db", "exchange", "nats"],
        help="run one procedure (hmac: both phases)",
    )
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
                if args.only and not label.startswith(args.only):
                    continue
                results.append(measure(demo, label, argv, args.stop_timeout))
            if not args.only or args.only == "nats":
                results.append(measure_nats(demo, extra, args.stop_timeout))
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
        if r["floor_s"]:
            ratio = r["total_s"] / r["floor_s"]
            verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
            print(
                f"\n{r['procedure']}: wall {r['total_s']:.1f} s, floor {r['floor_s']:.1f} s "
                f"({len(r['groups'])} groups: {r['groups']}), ratio {ratio:.2f} "
                f"(goal <= {GOAL_RATIO}: {verdict})"
            )
        print(
            f"\n{r['procedure']}: {r['total_s']:.1f} s (CPU of the CLI and its children "
            f"{r['cpu_s']:.1f} s), exit {r['exit_code']} ({r['outcome']}); "
            f"signed {r['signed']}, accepted {r['accepted']}, rejected {r['rejected']}, "
            f"listener auth failures {r['auth_failures']}"
        )
        for step in r["steps"]:
            seconds = "-" if step["seconds"] is None else f"{step['seconds']:.2f}"
            print(f"  {step['phase']:8} {step['n']:>2} {step['action']:16} {seconds:>6} s")


if __name__ == "__main__":
    sys.exit(main())
