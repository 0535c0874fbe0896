"""Small projects on disk for unit tests: a manifest, one compose file and a secrets dir with the
store's modes (0700 dirs, 0600 files), and the config most tests of `configs:` use (redis.conf
rendered from `redis_password`, README "Config files").

- `small_project(root, manifest, files)`: the project; `files` maps a path in the secrets dir
  (`api_token`, `db/password.txt`, `api_token.v2`) to its content.
- `REDIS_CONF` / `REDIS_TEMPLATE`: the `configs:` entry and its template; `with_redis_conf`
  appends the entry to a manifest's text; `config_project` is a project with both on disk and a
  random `redis_password` (returned for canary checks).
"""

from __future__ import annotations

import secrets as pyrandom
from pathlib import Path

from titan_deploy.project import Project

COMPOSE = "services: {web: {image: busybox}}\n"
API_TOKEN = """\
version: 1
compose_files: [compose.yml]
secrets:
  api_token:
    kind: token
    consumers: {web: API_TOKEN_FILE}
"""
"""A manifest of one secret read by `web` (compose.yml: COMPOSE)."""
REDIS_CONF = """\
  redis_conf:
    template: templates/redis.conf.j2
    inputs: [redis_password]
    file: redis.conf
    consumers: {redis: {target: /run/secrets/redis.conf}}
"""
REDIS_TEMPLATE = "appendonly yes\nrequirepass {{ redis_password | tojson }}\n"
REDIS_PASSWORD = "  redis_password: {kind: password, consumers: {client: REDIS_PASSWORD_FILE}}\n"


def with_redis_conf(manifest: str, more: str = "") -> str:
    """`manifest` (a whole manifest's text, `secrets:` last) with `configs:` holding redis_conf
    (and the entries `more`, indented like it) appended."""
    return f"{manifest}configs:\n{REDIS_CONF}{more}"


def small_project(
    root: Path,
    manifest: str,
    files: dict[str, bytes],
    compose: str = COMPOSE,
    compose_file: str = "compose.yml",
) -> Project:
    """A project in `root` (created if need be): `manifest` as secrets.manifest.yml, `compose`
    as `compose_file`, and `files` in `secrets/` with the store's modes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "secrets.manifest.yml").write_text(manifest)
    (root / compose_file).write_text(compose)
    store = root / "secrets"
    store.mkdir(mode=0o700, exist_ok=True)
    store.chmod(0o700)
    for name, value in files.items():
        path = store / name
        for parent in reversed(path.relative_to(store).parents[:-1]):
            (store / parent).mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(value)
        path.chmod(0o600)
    return Project(project_dir=root)


def config_project(
    root: Path,
    template: str = REDIS_TEMPLATE,
    head: str = "",
    secrets: str = REDIS_PASSWORD,
) -> tuple[Project, bytes]:
    """A project whose manifest is `head` + `secrets` + redis_conf (compose file
    docker-compose.yml: services redis and client), the template on disk and a random
    redis_password in the store; (the project, that value)."""
    value = f"Rp-{pyrandom.token_urlsafe(24)}".encode()
    manifest = with_redis_conf(
        f"version: 1\ncompose_files: [docker-compose.yml]\n{head}secrets:\n{secrets}"
    )
    compose = "services:\n  redis: {image: x}\n  client: {}\n"
    project = small_project(
        root, manifest, {"redis_password": value}, compose, compose_file="docker-compose.yml"
    )
    (root / "templates").mkdir()
    (root / "templates" / "redis.conf.j2").write_text(template)
    return project, value
