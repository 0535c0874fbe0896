"""The manifest of `make demo-vault`: the demo's manifest (its `configs:` included: the agent
renders redis.conf and nats/auth.conf from their derived entries), its own state dir, and a
`backend:` naming the local OpenBao at ADDRESS with the AppRole files in STATE. Usage:
manifest.py SOURCE TARGET ADDRESS STATE IMAGE."""

from __future__ import annotations

import sys

import yaml


def main(source: str, target: str, address: str, state: str, image: str) -> None:
    with open(source, encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    manifest["state_dir"] = state
    manifest["backend"] = {
        "type": "openbao",
        "address": address,
        "prefix": "titan/demo",
        "auth": {"role_id_file": f"{state}/role-id", "secret_id_file": f"{state}/secret-id"},
        "agent": {"image": image, "network_mode": "host", "render_interval": 2},
    }
    with open(target, "w", encoding="utf-8") as f:
        f.write("# Written by demo/vault/manifest.py for make demo-vault; do not edit.\n")
        yaml.safe_dump(manifest, f, sort_keys=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
