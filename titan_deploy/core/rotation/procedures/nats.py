"""NATS credentials with an overlap: `rotate nats` (README "NATS credentials").

The credential is the inputs of a config that its server reloads live (the demo: `configs:
nats_auth_conf` from `nats_user` and `nats_password`, consumer nats with `reload: {exec:
[nats-server, --signal, reload=1]}`). nats-server takes one user name once in `users`, so the
new credential is a new (user, password) pair, both generated. The steps:

1. new versions of every input (generated);
2. the server's config rendered with the old AND the new users (`WriteVersion(source=
   "overlap")`), the server repointed to it (reloaded, not restarted), verified, its proof;
3. every client, one at a time in manifest order, repointed to the new inputs (recreated,
   healthy, verified, its proofs): each connects with the new credential, which the server
   already accepts, while the others still use the old one, which it still accepts;
4. the config rendered with the new credential only, the server reloaded onto it, proved;
5. cleanup: base files, superseded versions.

Rollback (from the journal alone): the server back on the overlap first if it went past it
(both accepted again), then each client that changed back on its old files (reverse order),
then the server on its old config. No client is ever on a credential the server refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from titan_deploy.core.manifest import Manifest, SecretSpec
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation.derived import readers
from titan_deploy.core.rotation.plan import (
    Plan,
    freeze,
    next_version,
    proof_steps,
    refuse_live_reload,
    snapshot,
    versions_in_use,
)
from titan_deploy.core.rotation.procedures.base import Procedure, Undo
from titan_deploy.core.rotation.steps import (
    Assignments,
    Change,
    RemoveVersions,
    Repoint,
    Step,
    SyncBase,
    Verify,
    WriteVersion,
    current,
)
from titan_deploy.errors import UsageError

History = Mapping[str, tuple[Iterable[int], int]]  # name -> (its version files, its last version)


def find_config(manifest: Manifest, name: str | None) -> SecretSpec:
    """The config `rotate nats` rotates the inputs of: `name`, or the one config whose every
    consumer reloads live and whose inputs are all generated. UsageError (exit 2) otherwise."""
    found = [c for c in manifest.configs.values() if _fits(manifest, c)]
    if name:
        spec = manifest.configs.get(name)
        if spec is None or spec not in found:
            raise UsageError(
                f"`rotate nats --config {name}`: needs a config of {manifest.path.name} whose "
                "consumers reload it (reload: signal or exec) and whose inputs are generated"
            )
        return spec
    if len(found) != 1:
        names = ", ".join(c.name for c in found) or "none"
        raise UsageError(f"`rotate nats` needs --config NAME: configs that fit: {names}")
    return found[0]


def _fits(manifest: Manifest, config: SecretSpec) -> bool:
    inputs = [manifest.secrets[i] for i in config.inputs]
    live = all(c.reload.how != "restart" for c in config.consumers)
    return bool(config.consumers) and live and all(s.generate for s in inputs)


def plan_nats(manifest: Manifest, config: str, assignments: Assignments, history: History) -> Plan:
    """The overlap rotation of `config`'s inputs (module doc). `history`: for each input and
    the config, its version files and the journal's last version. ConfigError (exit 2) for a
    reloading consumer whose target cannot be mounted live (plan.refuse_live_reload)."""
    spec = manifest.configs[config]
    refuse_live_reload(manifest, [config])
    inputs = spec.inputs
    servers = [c.service for c in spec.consumers]
    clients = [s for s in readers(manifest, inputs) if s not in servers]

    def fresh(name: str, taken: Iterable[int] = ()) -> int:
        files, last = history.get(name, ((), 0))
        used = {*files, *versions_in_use(assignments, name), *taken}
        return next_version(used, last)

    versions = {name: fresh(name) for name in inputs}
    overlap = fresh(config)
    final = fresh(config, [overlap])
    steps: list[Step] = [WriteVersion(name, versions[name], "generate") for name in inputs]
    steps.append(WriteVersion(config, overlap, "overlap"))
    steps += _server(manifest, config, servers, overlap)
    for client in clients:
        mine = [s for s in inputs if manifest.secrets[s].consumer(client)]
        steps.append(Repoint(tuple(Change(client, s, Assignment(versions[s])) for s in mine)))
        steps.append(Verify((client,)))
        steps += proof_steps(manifest, mine, client, secret_level=False)
    steps.append(WriteVersion(config, final, "render"))
    steps += _server(manifest, config, servers, final)
    every = {**versions, config: final}
    steps += [SyncBase(name, version) for name, version in every.items()]
    for name, new in every.items():
        files, _ = history.get(name, ((), 0))
        written = {overlap} if name == config else set()
        superseded = tuple(sorted(v for v in {*files, *written} if v != new))
        if superseded:
            steps.append(RemoveVersions(name, superseded))
    return Plan(
        procedure="nats",
        secrets=(*inputs, config),
        steps=tuple(steps),
        initial=snapshot(manifest, assignments, (*inputs, config)),
        new_versions=every,
        specs=freeze(manifest, (*inputs, config)),
    )


def _server(manifest: Manifest, config: str, servers: list[str], version: int) -> list[Step]:
    """The servers repointed (reloaded) onto `version` of the config, verified, proved."""
    steps: list[Step] = [Repoint(tuple(Change(s, config, Assignment(version)) for s in servers))]
    steps.append(Verify(tuple(servers)))
    for server in servers:
        steps += proof_steps(manifest, [config], server, secret_level=False)
    return steps


def overlap_version(reached: Iterable[Step], config: str) -> int | None:
    """The overlap version of `config` this rotation wrote, if it got that far."""
    for step in reached:
        if isinstance(step, WriteVersion) and step.secret == config and step.source == "overlap":
            return step.version
    return None


def rollback(undo: Undo) -> list[Step]:
    """Servers back on the overlap (if past it), clients back in reverse order, servers back on
    their old config; each verified and its proofs reported (module doc)."""
    config = undo.secrets[-1]
    spec = undo.manifest.secrets[config]
    inputs = undo.secrets[:-1]
    servers = [c.service for c in spec.consumers]
    clients = [s for s in readers(undo.manifest, inputs) if s not in servers]
    overlap = overlap_version(undo.reached, config)
    steps: list[Step] = []
    moved = [s for s in clients if undo.differs(s)]
    on_server = {current(undo.now, config, s).version for s in servers}
    if moved and overlap is not None and on_server != {overlap}:
        steps += _undo_server(undo, servers, Assignment(overlap))
    for client in reversed(moved):
        steps += [undo.back([client]), Verify((client,))]
        steps += proof_steps(undo.manifest, inputs, client, False, secret_level=False)
    if any(undo.differs(s) for s in servers):
        steps += _undo_server(undo, servers, None)
    return steps


def _undo_server(undo: Undo, servers: list[str], to: Assignment | None) -> list[Step]:
    config = undo.secrets[-1]
    changes = tuple(
        Change(s, config, to if to is not None else current(undo.initial, config, s))
        for s in servers
    )
    steps: list[Step] = [Repoint(changes), Verify(tuple(servers))]
    for server in servers:
        steps += proof_steps(undo.manifest, [config], server, False, secret_level=False)
    return steps


NATS = Procedure("nats", plan_nats, rollback)


USERS_LINE = r"(?m)^(\s*users\s*[=:]\s*\[)(.*)(\]\s*)$"


def merge_users(old: bytes, new: bytes) -> bytes:
    """The config that accepts both credentials: `new` with its one `users = [...]` line's
    entries preceded by those of `old`'s (nats-server keeps only the last of two `users`
    lines, and refuses one user name twice). ValueError (no value in its message) when either
    does not hold exactly one such line on one line."""
    import re

    lines = []
    for label, text in (("old", old), ("new", new)):
        found = re.findall(USERS_LINE, text.decode("utf-8"))
        if len(found) != 1:
            raise ValueError(
                f"the {label} config holds {len(found)} `users = [...]` lines: `rotate nats` "
                "needs its template to render exactly one, on one line"
            )
        lines.append(found[0])
    entries = lines[0][1].strip() + ", " + lines[1][1].strip()
    merged = re.sub(USERS_LINE, lambda m: m[1] + entries + m[3], new.decode("utf-8"), count=1)
    return merged.encode("utf-8")
