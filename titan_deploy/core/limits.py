"""Size limits, in bytes, shared by every check, reader and message (one constant, one unit).

Docker's limit for a secret is swarmkit's `MaxSecretSize = 500 * 1024` ("500KB" in its comment,
i.e. 500 KiB = 512000 bytes), and swarmkit refuses `len(data) >= MaxSecretSize`
(api/validation/secrets.go), so the largest secret Docker accepts is 511999 bytes. Compose's
file secrets are bind mounts and have no limit of their own; the tool holds them to Docker's so a
store stays portable to Swarm, and so that no secret read is ever unbounded. Messages say KiB.
"""

from __future__ import annotations

DOCKER_SECRET_LIMIT = 500 * 1024
"""512000 bytes (500 KiB): swarmkit's MaxSecretSize. A secret must be SMALLER than this."""

MAX_SECRET_BYTES = DOCKER_SECRET_LIMIT - 1
"""The largest secret file (and manifest max_length) accepted: 511999 bytes."""


MAX_CONFIG_BYTES = 8 << 20
"""A manifest, compose file or rotation journal larger than 8 MiB is refused, never read whole."""

LIMIT_TEXT = "Docker's 500 KiB secret limit (at most 511999 bytes)"
