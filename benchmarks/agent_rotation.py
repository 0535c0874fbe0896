"""Central rotation on the agent path (README "Secrets managers", issue 14): the time from the
central write (the new KV version) to every consumer reloaded (recreated on the new files and
verified against the backend), for `rotate hmac` (phase 1) and `rotate hmac --finish` (phase 2).

A real `bao server -dev` on 127.0.0.1 (random port) and a busybox stack on the real engine:
one signer and --listeners HMAC listeners, the agent sidecar on the host's network. From the
rotation's JSON report: the seconds of every forward step after the last write (the central
write), the agent's render time in each repoint (its note), and the wall time of the command.
Runs in a temp dir with a random project name; removes only what it created. Usage:
    python benchmarks/agent_rotation.py [--listeners N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.backendkit import (  # noqa: E402
    approle,
    ensure_agent_image,
    openbao_manifest,
    openbao_server,
)
from tests.integration.images import ensure_busybox_image  # noqa: E402
from tests.stackkit_backend import project_with_values  # noqa: E402

LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


def manifest(listeners: int) -> dict:
    consumers = {"signer": {"env": "HMAC_FILE", "role": "signer"}}
    for i in range(listeners):
        consumers[f"listener{i}"] = {"env": "HMAC_FILE", "role": "listener"}
    secret = {
        "kind": "hex",
        "bytes": 32,
        "rotation": "hmac",
        "secondary_env": "HMAC_SECONDARY_FILE",
        "key_id_env": "HMAC_KEY_ID",
        "consumers": consumers,
    }
    return {"version": 1, "compose_files": ["docker-compose.yml"], "secrets": {"hmac_key": secret}}


def measure(report: dict, wall: float) -> dict:
    """Write-to-reloaded seconds, the agent's render times, and the wall time of one run."""
    rows = [r for r in report["rows"] if r["phase"] == "forward" and r["seconds"] is not None]
    writes = [i for i, r in enumerate(rows) if r["action"] == "write"]
    after = rows[writes[-1] + 1 :] if writes else rows
    rendered = [
        float(m.group(1))
        for r in rows
        if (m := re.search(r"agent rendered in ([0-9.]+)s", str(r["note"] or "")))
    ]
    return {
        "write_to_reloaded_s": round(sum(float(r["seconds"]) for r in after), 2),
        "agent_render_s": rendered,
        "wall_s": round(wall, 2),
        "steps": [(r["action"], r["step"][:60], r["seconds"]) for r in rows],
    }


def run(listeners: int) -> dict:
    busybox = ensure_busybox_image()
    name = f"tdbench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="td-agent-bench-") as tmp:
        tmp_path = Path(tmp)
        image = ensure_agent_image(tmp_path)
        with openbao_server(tmp_path) as server:
            spec = manifest(listeners)
            project = project_with_values(tmp_path, spec, {"hmac_key": secrets.token_hex(32)})
            approle(server, project, "titan")
            consumer = {"image": busybox, "command": ["sh", "-c", LOOP], "pull_policy": "never"}
            services = {s: dict(consumer) for s in spec["secrets"]["hmac_key"]["consumers"]}
            (project / "docker-compose.yml").write_text(yaml.safe_dump({"services": services}))
            path = project / "secrets.manifest.yml"
            auth = "{role_id_file: role-id, secret_id_file: secret-id}"
            agent = f"  agent: {{image: '{image}', network_mode: host, render_interval: 1}}\n"
            path.write_text(path.read_text() + openbao_manifest(server, "titan", auth) + agent)

            def td(*args: str) -> tuple[dict, float]:
                argv = [sys.executable, "-m", "titan_deploy", "-C", str(project), "-p", name]
                started = time.monotonic()
                done = subprocess.run([*argv, "--json", *args], capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
                return json.loads(done.stdout), time.monotonic() - started

            try:
                td("push")
                td("up", "--timeout", "180")
                phase1 = measure(*td("rotate", "hmac"))
                phase2 = measure(*td("rotate", "hmac", "--finish", "--force"))
            finally:
                argv = [sys.executable, "-m", "titan_deploy", "-C", str(project), "-p", name]
                subprocess.run([*argv, "down", "--volumes"], capture_output=True)
    return {"listeners": listeners, "rotate hmac": phase1, "rotate hmac --finish": phase2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = run(options.listeners)
    if options.json:
        print(json.dumps(result, indent=2))
        return
    print(f"agent path, 1 signer + {options.listeners} listeners (busybox), bao server -dev")
    for command in ("rotate hmac", "rotate hmac --finish"):
        m = result[command]  # phase 2 writes nothing: from its first repoint
        renders = ", ".join(f"{s:.1f}" for s in m["agent_render_s"]) or "-"
        print(
            f"{command:22} central write -> every consumer reloaded: "
            f"{m['write_to_reloaded_s']:.1f}s (wall {m['wall_s']:.1f}s; agent render per "
            f"repoint: {renders}s)"
        )


if __name__ == "__main__":
    main()
