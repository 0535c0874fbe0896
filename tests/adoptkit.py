"""A compose project laid out like the real Titan repository before titan-deploy (made-up values,
fresh random canaries per call; no upstream code copied): every secret in `.env.prod`, read by
`env_file:` on seven services; one secret under two names (`TITAN_DB_PASSWORD` and
`DB_PASSWORD`; `HMAC_SECRET` and `TITAN_HMAC_SECRET`); a database URL with the password in it;
redis given its password on argv (`--requirepass ${REDIS_PASSWORD}` from `.env`); nats rendering
its config from env vars in its entrypoint (`$$NATS_BRAIN_PASSWORD`); sentinel setting
`TITAN_HMAC_SECRET=${HMAC_SECRET}` in `environment:`; a console that already reads a `*_FILE`.

`write_titan_like(root, deployable=False)`: the full layout with the images real Titan names
(for the planner and the CLI). `deployable=True`: what adopt adopts and `up` can run on local
stand-ins (busybox-like `image`), without the parts adopt refuses (redis on argv, nats'
envsubst), and with what real projects add: redis given its password in `environment:`
(`REDIS_PASSWORD: ${REDIS_PASSWORD}` from `.env`), an `env_file:` with `format: raw` whose value
holds quotes, `$` and `#` (Compose takes them literally), a second compose file that
`!override`s hunter's env_file list (its legacy env file is no longer read: nothing is adopted
from it) and a weak password that check-secrets would reject (A006: it stays where it is).
"""

from __future__ import annotations

import secrets as pyrandom
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"
GHCR = "ghcr.io/peycheff-com/titan-trading-system"
ENV_PROD_SERVICES = (
    "nats",
    "titan-execution",
    "titan-brain",
    "titan-scavenger",
    "titan-hunter",
    "titan-sentinel",
    "titan-ai-quant",
)


@dataclass
class TitanLike:
    root: Path
    values: dict[str, bytes] = field(default_factory=dict, repr=False)  # env name -> canary
    compose: tuple[str, ...] = ("docker-compose.prod.yml",)
    untouched: dict[str, bytes] = field(default_factory=dict, repr=False)  # adopt keeps these

    def canaries(self) -> list[bytes]:
        return sorted(set(self.values.values()))


def _token(n: int = 32) -> str:
    return "cnry" + pyrandom.token_urlsafe(n)


def write_titan_like(
    root: Path, *, deployable: bool = False, image: str | None = None
) -> TitanLike:
    """Write the project under `root` (created); return it with its canary values."""
    root.mkdir(parents=True, exist_ok=True)
    db = _token()
    hmac = pyrandom.token_hex(32)
    values = {
        "TITAN_DB_PASSWORD": db,
        "DB_PASSWORD": db,
        "HMAC_SECRET": hmac,
        "TITAN_HMAC_SECRET": hmac,
        "BINANCE_API_KEY": pyrandom.token_hex(20).upper() + "Kq",
        "BINANCE_API_SECRET": _token(40),
        "GEMINI_API_KEY": "AIza" + _token(30),
        "DATABASE_URL": f"postgres://titan:{db}@db-primary:5432/titan_brain",
        "WEBHOOK_SIGNING": pyrandom.token_urlsafe(48),
    }
    values["REDIS_PASSWORD"] = _token()
    if not deployable:
        values["NATS_BRAIN_PASSWORD"] = _token()
    else:  # literal in a raw env file: quotes, `$`, `#` and a trailing space are the value
        values["AI_PROVIDER_TOKEN"] = f"\"{_token(24)}'$HOME#x "
    env_prod = [
        "# Titan production settings (made up for tests)",
        "NODE_ENV=production",
        "LOG_LEVEL=info",
        "TOKEN_TTL=3600",
        "MAX_TOKENS=4096",
        f"TITAN_DB_PASSWORD={values['TITAN_DB_PASSWORD']}",
        f'DB_PASSWORD="{values["DB_PASSWORD"]}"',
        f"HMAC_SECRET={values['HMAC_SECRET']}",
        "BINANCE_API_KEY=" + values["BINANCE_API_KEY"],
        "export BINANCE_API_SECRET=" + values["BINANCE_API_SECRET"],
        "GEMINI_API_KEY=" + values["GEMINI_API_KEY"],
        f"DATABASE_URL='{values['DATABASE_URL']}'",
        "WEBHOOK_SIGNING=" + values["WEBHOOK_SIGNING"],
    ]
    if deployable:
        env_prod.append(f"TITAN_HMAC_SECRET={values['TITAN_HMAC_SECRET']}")
    else:
        env_prod.append(f"NATS_BRAIN_PASSWORD={values['NATS_BRAIN_PASSWORD']}")
    (root / ".env.prod").write_text("\n".join(env_prod) + "\n")
    dotenv = ["TITAN_TAG=latest", f"REDIS_PASSWORD={values['REDIS_PASSWORD']}"]
    dotenv.append(f"HMAC_SECRET={hmac}")
    (root / ".env").write_text("\n".join(dotenv) + "\n")
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "console_session_key").write_text(_token() + "\n")
    compose = _compose(deployable, image)
    (root / "docker-compose.prod.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    out = TitanLike(root, {k: v.encode() for k, v in values.items()})
    if deployable:
        _deployable_extras(out)
    return out


def _deployable_extras(titan: TitanLike) -> None:
    root = titan.root
    token = titan.values["AI_PROVIDER_TOKEN"].decode()
    raw = f"# raw: no quote or escape processing\nAI_PROVIDER_TOKEN={token}\n"
    (root / ".env.ai").write_text(raw)
    with (root / ".env.prod").open("a") as f:
        f.write("ADMIN_PASSWORD=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")  # weak: check-secrets rejects
    titan.values["LEGACY_API_TOKEN"] = _token().encode()
    legacy = f"LEGACY_API_TOKEN={titan.values['LEGACY_API_TOKEN'].decode()}\n"
    (root / ".env.legacy").write_text(legacy)
    ops = "services:\n  titan-hunter:\n    env_file: !override [.env.prod]\n"
    (root / "docker-compose.ops.yml").write_text(ops)
    titan.compose = ("docker-compose.prod.yml", "docker-compose.ops.yml")
    titan.untouched = {".env.legacy": legacy.encode()}


def _compose(deployable: bool, image: str | None) -> dict:
    services: dict = {}
    for name in ENV_PROD_SERVICES:
        if name == "nats" and deployable:
            continue
        services[name] = {"image": f"{GHCR}/{name}:${{TITAN_TAG:-latest}}", "env_file": ".env.prod"}
    services["titan-brain"]["environment"] = ["PORT=3100", "NATS_URL=nats://nats:4222"]
    services["titan-console"] = {
        "image": f"{GHCR}/titan-console:${{TITAN_TAG:-latest}}",
        "environment": {"CONSOLE_SESSION_KEY_FILE": "/run/secrets/console_session_key"},
        "volumes": ["./config/console_session_key:/run/secrets/console_session_key:ro"],
    }
    if not deployable:
        services["nats"] = {
            "image": "nats:2.10.22-alpine",
            "env_file": ".env.prod",
            "entrypoint": [
                "/bin/sh",
                "-c",
                "envsubst '$$NATS_BRAIN_PASSWORD' < /config/nats.conf > /tmp/nats.conf && "
                "exec nats-server -c /tmp/nats.conf",
            ],
        }
        services["redis"] = {
            "image": "redis:alpine",
            "command": "redis-server --appendonly yes --requirepass ${REDIS_PASSWORD}",
        }
        services["postgres"] = {
            "image": "postgres:16-alpine",
            "environment": {"POSTGRES_USER": "titan", "POSTGRES_DB": "titan_brain"},
            "env_file": ".env.prod",
        }
        services["titan-sentinel"]["environment"] = [
            "HEADLESS=true",
            "TITAN_HMAC_SECRET=${HMAC_SECRET}",
        ]
        return {"services": services}
    services["titan-sentinel"]["environment"] = [
        "HEADLESS=true",
        "TITAN_HMAC_SECRET=${HMAC_SECRET}",
    ]
    services["titan-ai-quant"]["env_file"] = [".env.prod", {"path": ".env.ai", "format": "raw"}]
    services["titan-hunter"]["env_file"] = [".env.prod", ".env.legacy"]
    services["redis"] = {"environment": {"REDIS_PASSWORD": "${REDIS_PASSWORD}"}}
    for body in services.values():
        body["image"] = image
        body["command"] = ["sh", "-c", LOOP]
        body["pull_policy"] = "never"
        body["labels"] = {"org.titan-deploy.test": "1"}
        body["healthcheck"] = {"test": ["CMD", "true"], "interval": "1s", "retries": 3}
    services["titan-scavenger"]["user"] = "1000"
    return {"services": services}
