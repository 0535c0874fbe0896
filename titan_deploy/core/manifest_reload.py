"""How a consumer picks up a new version, and what proves it did (README "Reload and proofs").

Parsed from the manifest here (core/manifest_secret.py calls in), held as values in
core/manifest_model.py. A consumer's `reload:` is `restart` (the default: Compose recreates the
container on the new file), `{signal: SIGHUP}` (the signal sent to the container's main
process) or `{exec: [argv...]}` (a command run inside the container, e.g. `nats-server --signal
reload`); `proof:` is `{log: REGEX}` (a line in its logs since the reload) and/or `{probe:
[argv...]}` (a command run inside the container that must exit 0). A secret's `probe:` (an
exchange group's test order) is run inside each consumer after its restart.

Commands are argv lists, never a shell line: each item printable, no NUL or newline, bounded.
They come from the manifest, never hold a value, and are shown in plans as written.
"""

from __future__ import annotations

from typing import Any

from titan_deploy.core.manifest_model import Proof, Reload
from titan_deploy.core.manifest_validate import Validator
from titan_deploy.core.yamlpos import KeyPath

RELOAD_KINDS = ("restart", "signal", "exec")
SIGNALS = ("SIGHUP", "SIGUSR1", "SIGUSR2")
RELOAD_KEYS = {"signal", "exec"}
PROOF_KEYS = {"log", "probe"}
MAX_ARGS = 32
MAX_ARG = 256


def parse_reload(v: Validator, path: KeyPath, entry: dict) -> Reload:
    """A consumer's `reload:` (default restart). ConfigError (exit 2) naming the key path."""
    raw = entry.get("reload", "restart")
    rpath = (*path, "reload")
    if raw == "restart":
        return Reload()
    if not isinstance(raw, dict) or len(raw) != 1:
        raise v.doc.error(
            rpath,
            "should be restart, {signal: SIGHUP} or {exec: [command, arg, ...]} (one of them)",
        )
    v.known_keys(rpath, raw, RELOAD_KEYS)
    if "signal" in raw:
        signal = v.choice(rpath, raw, "signal", SIGNALS, required=True)
        return Reload("signal", signal=signal)
    return Reload("exec", command=argv(v, (*rpath, "exec"), raw["exec"]))


def parse_proof(v: Validator, path: KeyPath, entry: dict) -> Proof | None:
    """A consumer's `proof:` ({log: REGEX} and/or {probe: [argv]}), or None when absent."""
    if "proof" not in entry:
        return None
    ppath = (*path, "proof")
    raw = v.get(path, entry, "proof", dict)
    v.known_keys(ppath, raw, PROOF_KEYS)
    if not raw:
        raise v.doc.error(ppath, "needs `log: REGEX` or `probe: [command, arg, ...]`")
    log = v.regex(ppath, raw, "log")
    probe = argv(v, (*ppath, "probe"), raw["probe"]) if "probe" in raw else ()
    return Proof(log=log, probe=probe)


def check_reload(v: Validator, path: KeyPath, reload: Reload, proof: Proof | None) -> None:
    """A signal or exec reload needs a proof: nothing else tells that the process took the new
    version (a restart is proved by the recreate, health and verify)."""
    if reload.how != "restart" and proof is None:
        raise v.doc.error(
            (*path, "reload"),
            f"reload: {reload.how} needs `proof:` ({{log: REGEX}} or {{probe: [command, ...]}}): "
            "what shows the process took the new version",
        )


def parse_probe(v: Validator, path: KeyPath, body: dict) -> tuple[str, ...]:
    """A secret's `probe:` (argv run inside each consumer after its restart), () when absent."""
    return argv(v, (*path, "probe"), body["probe"]) if "probe" in body else ()


def argv(v: Validator, path: KeyPath, raw: Any) -> tuple[str, ...]:
    """A command as an argv list: 1 to 32 items, each 1 to 256 printable characters."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ARGS:
        raise v.doc.error(path, f"should be a command as a list of 1 to {MAX_ARGS} strings")
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_ARG or not item.isprintable():
            raise v.doc.error(
                (*path, i), f"should be a non-empty printable string of at most {MAX_ARG} chars"
            )
    return tuple(raw)
