"""Run one stand-in: ``python3 -m standin ROLE [ARGS...]`` or ROLE from TITAN_DEMO_ROLE.

``python3 -m standin test-order EXCHANGE`` runs one lab-mode test order and exits (a probe).

With TITAN_DEMO_ROLE set, every argument goes to the role (so a prod ``command:`` such as nats'
flags reaches the nats stand-in unchanged).
"""

from __future__ import annotations

import os
import signal
import sys

from . import common

ROLES = (
    "titan-brain",
    "titan-execution",
    "titan-sentinel",
    "titan-scavenger",
    "titan-hunter",
    "titan-ai-quant",
    "titan-console",
    "nats",
    "grafana",
    "demo-exchange",
)


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    """PID 1 ignores SIGTERM unless it installs a handler: without this, every `docker stop`
    (and so every recreate during a rotation) waits out the full stop timeout."""
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    if argv[:1] == ["test-order"]:  # a probe run by `docker exec`, not a service
        from .exchange_client import test_order_main

        return test_order_main(argv[1:])
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    role = os.environ.get("TITAN_DEMO_ROLE", "")
    if argv and argv[0] in ROLES:
        role, argv = argv[0], argv[1:]
    if role not in ROLES:
        print(
            f"usage: python3 -m standin ROLE [ARGS...] (or TITAN_DEMO_ROLE=ROLE); "
            f"roles: {', '.join(ROLES)}",
            file=sys.stderr,
        )
        return 2
    common.setup_logging(role)
    if role == "titan-brain":
        from . import brain

        brain.main()
    elif role == "nats":
        from . import nats

        nats.main(argv)
    elif role == "grafana":
        from . import grafana

        grafana.main()
    elif role == "demo-exchange":
        from . import demo_exchange

        demo_exchange.main()
    else:
        from . import services

        services.run(role)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
