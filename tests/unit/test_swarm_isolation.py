"""No test or benchmark changes the main engine's swarm state (issue 13 item 6): `swarm init`,
`join` and `leave` run only through tests/netnsdocker.py, on a dockerd in a network namespace
of its own. On the main engine (Docker 20.10 here) they broke the embedded DNS of every compose
stack already running on it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {"tests/netnsdocker.py"}
# a Python argv ("swarm", "init") or a shell command line (docker swarm leave)
SWARM_CHANGE = re.compile(
    r"""["']swarm["']\s*,\s*["'](init|join|leave)["']|\bdocker\s+swarm\s+(init|join|leave)\b"""
)


def offenders(roots: tuple[str, ...]) -> list[str]:
    found = []
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in ALLOWED or rel == "tests/unit/test_swarm_isolation.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if SWARM_CHANGE.search(line) and not line.lstrip().startswith("#"):
                    found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_swarm_state_changes_only_on_the_netns_engines():
    assert offenders(("tests", "benchmarks")) == []


def test_the_pattern_finds_a_main_engine_swarm_init():
    assert SWARM_CHANGE.search('docker("swarm", "init", "--advertise-addr", "127.0.0.1")')
    assert SWARM_CHANGE.search("docker swarm leave --force")
    assert not SWARM_CHANGE.search("swarm_init(node)")
    assert not SWARM_CHANGE.search("`swarm init`/`leave` break the DNS")
