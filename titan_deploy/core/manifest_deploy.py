"""The manifest's `deploy:` section (README "Several hosts"): which engine a run deploys with by
default (`compose`, or `swarm`: `docker stack deploy`), where the stack overlay is rendered, and
how the tool reaches each swarm node's engine to verify the tasks there.

```yaml
deploy:
  engine: swarm                      # compose (default) | swarm; `--swarm` selects swarm too
  stack_overlay: docker-stack.secrets.yml
  nodes:                             # swarm node hostname -> that node's Docker engine
    worker-1: ssh://deploy@10.0.0.2  # unix:///path, tcp://host:port or ssh://[user@]host[:port]
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from titan_deploy.core.manifest_validate import Validator
from titan_deploy.core.yamlpos import KeyPath

ENGINES = ("compose", "swarm")
DEPLOY_KEYS = {"engine", "stack_overlay", "nodes"}
STACK_OVERLAY = "docker-stack.secrets.yml"
# a node's hostname as Swarm reports it (Description.Hostname)
NODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
# an engine endpoint docker-py connects to; nothing a shell or ssh could read as an option
ENDPOINT_RE = re.compile(
    r"^(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]{1,5}"
    r"|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)$"
)


@dataclass(frozen=True)
class DeploySpec:
    """`engine`: the default of `--swarm` (swarm) or not (compose); `stack_overlay`: the file
    the swarm path renders (relative to the project dir); `nodes`: (hostname, endpoint) pairs."""

    engine: str = "compose"
    stack_overlay: str = STACK_OVERLAY
    nodes: tuple[tuple[str, str], ...] = ()

    def endpoint(self, hostname: str) -> str | None:
        """The engine endpoint the manifest gives for a swarm node, else None."""
        return dict(self.nodes).get(hostname)


def parse_deploy(v: Validator, top: dict) -> DeploySpec:
    """`deploy:` as a DeploySpec (the default when absent). ConfigError (exit 2) with the key
    path for an unknown key, an engine outside ENGINES, a bad node name or endpoint."""
    raw = v.get((), top, "deploy", dict, None)
    if raw is None:
        return DeploySpec()
    path: KeyPath = ("deploy",)
    v.known_keys(path, raw, DEPLOY_KEYS)
    engine = v.choice(path, raw, "engine", ENGINES, default="compose")
    overlay = v.relpath(
        (*path, "stack_overlay"), v.get(path, raw, "stack_overlay", str, STACK_OVERLAY)
    )
    nodes = []
    for name, endpoint in v.get(path, raw, "nodes", dict, {}).items():
        npath = (*path, "nodes", str(name))
        if not isinstance(name, str) or not NODE_RE.match(name):
            raise v.doc.error(npath, "node name must be a hostname as `docker node ls` shows it")
        if not isinstance(endpoint, str) or not ENDPOINT_RE.match(endpoint):
            raise v.doc.error(
                npath,
                "should be an engine endpoint: unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]",
            )
        nodes.append((name, endpoint))
    return DeploySpec(engine=engine, stack_overlay=overlay, nodes=tuple(nodes))
