"""`titan-deploy rotate ...`: the rotation procedures of DESIGN §8 as a typer sub-app."""

from __future__ import annotations

import typer

rotate_app = typer.Typer(
    help=(
        "Rotate secrets without downtime: hmac (listeners first, signers last, old key dropped "
        "after 24 h), db (rolling restart), exchange NAME (proof of connectivity). Resumable "
        "after a crash (`rotate resume`) and reversible (`rotate abort`)."
    ),
    no_args_is_help=True,
)
