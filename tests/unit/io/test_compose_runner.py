"""The one compose runner under faults: a timeout leaves no process behind (issue 9.4).

`docker compose` is the docker CLI plus a plugin it spawns; the plugin holds the stdout/stderr
pipes. Killing only the CLI on timeout left `communicate()` waiting for the plugin for as long
as it ran. A shell that backgrounds long sleeps stands in for that process tree here.
"""

from __future__ import annotations

import os
import secrets

import pytest

from titan_deploy.errors import ComposeError
from titan_deploy.io import composerun


def _alive(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_a_timeout_kills_every_descendant_and_returns() -> None:
    seconds = f"{300 + secrets.randbelow(600)}.{secrets.randbelow(10**6):06d}"  # a unique marker
    script = f"sleep {seconds} & sh -c 'sleep {seconds}; :' & sleep {seconds}; wait"
    with pytest.raises(ComposeError, match="timed out after 1s"):
        composerun.run(["sh", "-c", script], what="a stuck compose", timeout=1)
    assert _alive(f"sleep\0{seconds}") == []
