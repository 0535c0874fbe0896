"""The manifest's rules that span secrets (one entry is checked in core/manifest_secret.py):
no name taken by another's version files, one env var per file per service, a key_id_env that
names nothing else. Each raises the ConfigError of `doc.error` (file, line, key path)."""

from __future__ import annotations

from titan_deploy.core.manifest_model import SecretSpec
from titan_deploy.core.versions import collision, secondary_target
from titan_deploy.core.yamlpos import Located


def check_across_secrets(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """Check every rule across `secrets` (name -> entry, already valid one by one) of the manifest
    `doc`. Returns nothing; raises ConfigError naming the first entry that breaks a rule."""
    _version_collisions(doc, secrets)
    _file_clash(doc, secrets)
    _env_clash(doc, secrets)
    _path_clash(doc, secrets)
    _key_id_env(doc, secrets)


def _version_collisions(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """No secret may be named like a version of another (`a.v1`, `a_v1` next to `a`) or like its
    previous-key mount (`a.previous`): its file, compose secret name or mount target would be
    taken for that one, and a consumer of `a` would mount the other secret's file."""
    for name in secrets:
        taken = collision(name, secrets)
        if taken is not None:
            raise doc.error(
                ("secrets", name),
                f"collides with {taken} (rename it: NAME.vN, NAME_vN and NAME.previous "
                "are taken by rotation)",
            )


def _file_clash(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """One file per secret in the secrets dir: no two secrets (by `file:` or by name) share a
    file, take another's version file (`db/password.txt.v1`) or use another's file as a
    directory (`db` next to `db/password.txt`)."""
    files = {spec.name: spec.file_name for spec in secrets.values()}
    pool = frozenset(files.values())  # built once: each rule below is a lookup, not a scan
    dirs: dict[str, tuple[str, str]] = {}  # each directory on a file's path -> (secret, file)
    for n, f in files.items():
        parts = f.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), (n, f))
    seen: dict[str, str] = {}
    for name, path in files.items():
        where = ("secrets", name, "file") if secrets[name].file else ("secrets", name)
        other = seen.setdefault(path, name)
        if other != name:
            raise doc.error(where, f"{path} is already the file of secret {other}")
        taken = collision(path, pool)
        if taken is not None:
            raise doc.error(where, f"{path} collides with {taken} (a rotation file)")
        if path in dirs:
            n, f = dirs[path]
            raise doc.error(where, f"{path} is a directory of secret {n}'s file {f}")


def _path_clash(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """One file per container path per service: two secrets (by `target:`, by name, or an
    HMAC listener's previous key) mounted at one path would hide one of them."""
    seen: dict[tuple[str, str], str] = {}
    for spec in secrets.values():
        for consumer in spec.consumers:
            paths = [consumer.container_path(spec.name)]
            if spec.secondary_env and consumer.role == "listener":
                paths.append(f"/run/secrets/{secondary_target(spec.name)}")
            for path in paths:
                other = seen.setdefault((consumer.service, path), spec.name)
                if other != spec.name:
                    raise doc.error(
                        ("secrets", spec.name, "consumers", consumer.service),
                        f"{consumer.service} already mounts secret {other} at {path}",
                    )


def _env_clash(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """One env var names one file per service: the overlay cannot hold the same key twice."""
    seen: dict[tuple[str, str], str] = {}
    for spec in secrets.values():
        for consumer in spec.consumers:
            envs = list(consumer.envs)
            if spec.secondary_env and consumer.role == "listener":
                envs.append(spec.secondary_env)
            for env in envs:
                other = seen.setdefault((consumer.service, env), spec.name)
                if other != spec.name or envs.count(env) > 1:
                    raise doc.error(
                        ("secrets", spec.name, "consumers", consumer.service),
                        f"{consumer.service} already gets {env} from secret {other}",
                    )


def _key_id_env(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """key_id_env is one more env var the overlay sets on every consumer of its secret: it must
    not be an env var the manifest uses for anything else (a consumer's *_FILE of any secret, a
    secondary_env, another key_id_env), or the overlay would hold one key twice."""
    uses: dict[str, str] = {}
    for spec in secrets.values():
        for consumer in spec.consumers:
            for name in consumer.envs:
                uses.setdefault(
                    name, f"the env var of secret {spec.name}'s consumer {consumer.service}"
                )
        if spec.secondary_env:
            uses.setdefault(spec.secondary_env, f"secret {spec.name}'s secondary_env")
    for spec in secrets.values():
        env = spec.key_id_env
        if not env:
            continue
        other = uses.get(env)
        if other is not None:
            raise doc.error(
                ("secrets", spec.name, "key_id_env"),
                f"{env} is already {other}: the overlay would set it twice; name another env var",
            )
        uses[env] = f"secret {spec.name}'s key_id_env"
