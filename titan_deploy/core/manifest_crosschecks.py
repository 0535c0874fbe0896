"""The manifest's rules that span secrets (one secret's entry is checked in core/manifest.py):
no name taken by another's version files, one env var per file per service, a key_id_env that
names nothing else. Each raises the ConfigError of `doc.error` (file, line, key path)."""

from __future__ import annotations

from titan_deploy.core.manifest_model import SecretSpec
from titan_deploy.core.versions import collision
from titan_deploy.core.yamlpos import Located


def check_across_secrets(doc: Located, secrets: dict[str, SecretSpec]) -> None:
    """Check every rule across `secrets` (name -> entry, already valid one by one) of the manifest
    `doc`. Returns nothing; raises ConfigError naming the first entry that breaks a rule."""
    _version_collisions(doc, secrets)
    _env_clash(doc, secrets)
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
