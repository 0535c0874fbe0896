"""Hostile and faulty input, fuzzed (issue 9's "done when").

Hypothesis draws one hostile project per example — a manifest, a compose file, a secrets dir, a
state dir and an option value, each either sound or hostile in one of the ways an attacker or a
clumsy operator would make it — and runs one command through the real console script, in its
own process, under resource limits, with stdin closed. For every case:

- the exit code is one of 0..3 and there is no traceback;
- a failure (2 or 3) is exactly one line on stderr, or, under `--json`, one JSON document on
  stdout (and nothing but that document on stdout in any case);
- no form of any canary value (raw, base64, hex, any 12-character piece) appears in stdout,
  stderr, the state dir, the overlay or any file the tool wrote outside the secrets dir;
- no file outside what the tool owns changed (a tree snapshot of an "outside" directory holding
  victim files, and of the project's compose files and manifest, before and after);
- it ends: the timeout is a hang guard (a hung case fails), not a performance assertion; memory
  is capped by RLIMIT_AS so an unbounded read or an alias bomb fails instead of swapping.

The commands are those that need no running stack (the engine-facing ones are exercised with
hostile option values, which must be refused before anything is contacted). Examples are
derandomized in CI so a red run is reproducible; set TITAN_FUZZ_RANDOM=1 to explore.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets as pyrandom
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.canary import Canaries
from tests.conftest import PROJECT_FILES, REPO, fill_store, random_value
from titan_deploy.core.manifest import load_manifest

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"
HANG_GUARD_S = 60
MEMORY_CAP = 2 * 1024**3
MANIFEST = "secrets.manifest.yml"
PROD = "docker-compose.prod.yml"
OVERLAY = "docker-compose.secrets.yml"

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)
CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(.*a){25}", "^(([a-z])+.)+[A-Z]([a-z])+$"]


# --- the hostile world -----------------------------------------------------------------------


@dataclass
class World:
    root: Path  # tmp root: project/ and outside/
    project: Path
    outside: Path
    values: dict[str, bytes] = field(repr=False)  # pytest prints a failed call's args

    @property
    def store(self) -> Path:
        return self.project / "secrets"

    @property
    def manifest(self) -> Path:
        return self.project / MANIFEST


TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") else None
"""Where worlds live: a tmpfs when there is one. Every example's tool run fsyncs what it writes
(init: two fsyncs per secret); on a disk shared with other work each waits for it. The tool
makes the same calls on a tmpfs."""


def make_world() -> World:
    root = Path(tempfile.mkdtemp(prefix="tdfuzz-", dir=TMPFS))
    project = root / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(REPO / "secrets.example", project / "secrets.example")
    manifest = load_manifest(project / MANIFEST)
    values = {name: random_value(spec) for name, spec in manifest.secrets.items()}
    fill_store(project, manifest, values)
    outside = root / "outside"
    outside.mkdir()
    victim = outside / "victim"  # a "system file": root-only, must never change or leak
    victim.write_bytes(b"victim-" + pyrandom.token_hex(16).encode())
    os.chmod(victim, 0o600)
    (outside / "victim-dir").mkdir(mode=0o700)
    (outside / "victim-dir" / "shadow").write_bytes(b"shadow-" + pyrandom.token_hex(16).encode())
    os.chmod(outside / "victim-dir" / "shadow", 0o600)
    values["__victim"] = victim.read_bytes()
    values["__shadow"] = (outside / "victim-dir" / "shadow").read_bytes()
    return World(root, project, outside, values)


def _text(path: Path) -> str | None:
    """A regular file's text; None for anything else (an earlier mutation may have made it a
    FIFO or /dev/zero, which the test itself must never read)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) or path.stat().st_size > 10**7:
            return None
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _edit(path: Path, old: str, new: str) -> None:
    """Replace `old` once (a no-op when an earlier mutation already replaced the file)."""
    text = _text(path)
    if text is not None and old in text:
        path.write_text(text.replace(old, new, 1))


def _append(path: Path, tail: str) -> None:
    text = _text(path)
    if text is not None:
        path.write_text(text + tail)


# Each mutation takes the world and a draw-derived integer; it returns a short label.


def m_overlay_target(w: World, n: int) -> str:
    targets = [
        "secrets/titan_hmac_secret",
        PROD,
        MANIFEST,
        ".titan-deploy/state.json",
        "secrets",
        "x/../secrets/binance_api_key",
    ]
    target = targets[n % len(targets)]
    _edit(w.manifest, f"overlay: {OVERLAY}", f"overlay: {target}")
    return f"overlay -> {target}"


def m_overlay_symlink(w: World, n: int) -> str:
    (w.project / OVERLAY).unlink()
    victim = w.outside / "victim" if n % 2 else w.store / "titan_db_password"
    (w.project / OVERLAY).symlink_to(victim)
    return f"overlay is a symlink to {victim.name}"


def m_manifest_alias_bomb(w: World, n: int) -> str:
    _append(w.manifest, "\nx-bomb:\n" + _indent(ALIAS_BOMB))
    return "alias bomb in manifest"


def m_manifest_recursive_alias(w: World, n: int) -> str:
    _append(w.manifest, "\nx-loop: &loop [*loop]\n")
    return "recursive alias in manifest"


def m_catastrophic_regex(w: World, n: int) -> str:
    pattern = CATASTROPHIC[n % len(CATASTROPHIC)]
    if n % 2:
        _edit(w.manifest, "    group: binance\n", f"    group: binance\n    pattern: '{pattern}'\n")
    else:
        _edit(
            w.manifest,
            "verify_log: 'Exchange connected \\(binance\\)'",
            f"verify_log: '{pattern}'",
        )
    # a value that makes a backtracking engine explode on `pattern`
    (w.store / "binance_api_key").write_bytes(b"a" * 40 + b"!")
    return f"catastrophic {'pattern' if n % 2 else 'verify_log'} {pattern}"


def m_control_char(w: World, n: int) -> str:
    text = _text(w.manifest)
    if text is None:
        return "control char: manifest not a regular file (skipped)"
    pos = n % len(text)
    char = ["\x00", "\x07", "\x1b", "\x7f", "\u2028", "\ufeff"][n % 6]
    w.manifest.write_text(text[:pos] + char + text[pos:])
    return f"control char {char!r} at {pos}"


def m_manifest_is_a_value(w: World, n: int) -> str:
    name = sorted(k for k in w.values if not k.startswith("__"))[n % 8]
    w.manifest.unlink(missing_ok=True)  # never write into a FIFO an earlier case made
    w.manifest.write_bytes(b"*" + w.values[name] + b"\n")
    return f"manifest is the value of {name} (as an alias)"


def m_manifest_fifo(w: World, n: int) -> str:
    w.manifest.unlink()
    if n % 2:
        os.mkfifo(w.manifest)
        return "manifest is a FIFO"
    w.manifest.symlink_to("/dev/zero")
    return "manifest is /dev/zero"


def m_secrets_dir_symlink(w: World, n: int) -> str:
    moved = w.outside / "real-secrets"
    shutil.move(w.store, moved)
    w.store.symlink_to(moved if n % 2 else w.outside / "victim-dir")
    return "secrets dir is a symlink outside the project"


def m_secret_symlink_out(w: World, n: int) -> str:
    name = ["titan_db_password", "gemini_api_key", "grafana_admin_password"][n % 3]
    (w.store / name).unlink()
    (w.store / name).symlink_to(w.outside / "victim")
    return f"{name} -> symlink outside"


def m_secret_hardlink(w: World, n: int) -> str:
    name = ["titan_db_password", "gemini_api_key", "grafana_admin_password"][n % 3]
    (w.store / name).unlink()
    os.link(w.outside / "victim", w.store / name)
    return f"{name} is a hard link of an outside file"


def m_secret_fifo(w: World, n: int) -> str:
    name = ["gemini_api_key", "bybit_api_secret"][n % 2]
    (w.store / name).unlink()
    if n % 3 == 0:
        (w.store / name).symlink_to("/dev/zero")
        return f"{name} -> /dev/zero"
    os.mkfifo(w.store / name, 0o600)
    return f"{name} is a FIFO"


def m_secret_huge(w: World, n: int) -> str:
    name = ["grafana_admin_password", "gemini_api_key"][n % 2]
    path = w.store / name
    with open(path, "r+b") as handle:
        handle.truncate(3 * 1024**3)  # sparse: 3 GiB that would OOM a whole read
    return f"{name} is a 3 GiB sparse file"


def m_symlink_loop(w: World, n: int) -> str:
    (w.store / "loop-a").symlink_to(w.store / "loop-b")
    (w.store / "loop-b").symlink_to(w.store / "loop-a")
    name = "titan_db_password"
    (w.store / name).unlink()
    (w.store / name).symlink_to(w.store / "loop-a")
    return "symlink loop in the secrets dir"


def m_compose_value_key(w: World, n: int) -> str:
    name = sorted(k for k in w.values if not k.startswith("__"))[n % 8]
    value = w.values[name].decode()
    prod = w.project / PROD
    # a value pasted as a key, with a backslash in it (compose doubles it when quoting)
    _append(prod, f'\nx-{value}\\\\{value}: "1"\n"{value}\\\\": 1\n')
    return f"value of {name} as a compose key"


def m_compose_alias_bomb(w: World, n: int) -> str:
    prod = w.project / PROD
    _append(prod, "\nx-bomb:\n" + _indent(ALIAS_BOMB))
    return "alias bomb in the compose file"


def m_env_dollar(w: World, n: int) -> str:
    canary = "envcanary" + pyrandom.token_hex(10)
    w.values["__env"] = canary.encode()
    (w.project / ".env").write_text(f"SOME_SETTING=a${{{canary}\nOTHER=b\\{canary}$\n")
    return ".env value with $"


def m_state_garbage(w: World, n: int) -> str:
    state = w.project / ".titan-deploy"
    state.mkdir(exist_ok=True)
    bodies = [b"{not json", b"[]", b'{"version": "x", "active": 7}', b"\xff\xfe", b"null"]
    (state / "state.json").write_bytes(bodies[n % len(bodies)])
    os.chmod(state / "state.json", 0o600)
    return f"state.json is {bodies[n % len(bodies)]!r}"


def m_lock_garbage(w: World, n: int) -> str:
    lock = w.project / ".titan-deploy" / "rotation.lock"
    lock.mkdir(parents=True, exist_ok=True)
    pid = ["-1", "0", "abc", "", "99999999999999999999"][n % 5]
    (lock / "pid").write_text(pid)
    (lock / "owner").write_text(pid)
    return f"lock with pid {pid!r}"


MUTATIONS = [
    m_overlay_target,
    m_overlay_symlink,
    m_manifest_alias_bomb,
    m_manifest_recursive_alias,
    m_catastrophic_regex,
    m_control_char,
    m_manifest_is_a_value,
    m_manifest_fifo,
    m_secrets_dir_symlink,
    m_secret_symlink_out,
    m_secret_hardlink,
    m_secret_fifo,
    m_secret_huge,
    m_symlink_loop,
    m_compose_value_key,
    m_compose_alias_bomb,
    m_env_dollar,
    m_state_garbage,
    m_lock_garbage,
]

# never a value an engine-facing command could accept: the engine is not reachable anyway
BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "1e309", "abc", "-5.5"]

COMMANDS: list[list[str]] = [
    ["check-secrets"],
    ["check-secrets", "--fix"],
    ["render"],
    ["render", "--check"],
    ["lint"],
    ["init"],
    ["init", "--from", "{outside}"],
    ["init", "--from", "{outside}/victim-dir"],
    ["rotate", "status"],
    ["audit-logs", "--file", "{project}/secrets/gemini_api_key"],
    ["audit-logs", "--file", "{outside}/victim"],
    ["up", "--timeout", "{bad}"],
    ["rotate", "hmac", "--finish", "--min-age", "{bad}"],
    ["rotate", "hmac", "--stop-timeout", "{bad}", "--dry-run"],
    ["rotate", "db", "--auth-failure-threshold", "{bad}", "--dry-run"],
    ["rotate", "exchange", "binance", "--timeout", "{bad}"],
    ["rotate", "exchange", "binance", "--from-file", "/dev/zero", "--from-file", "/dev/zero"],
    ["rotate", "exchange", "binance", "--from-file", "{fifo}", "--from-file", "{fifo}"],
]


def _mutate(mutation, w: World, n: int) -> str:
    """Apply one mutation; one an earlier mutation made impossible (its file gone) is skipped."""
    try:
        return mutation(w, n)
    except OSError:
        return f"{mutation.__name__} (not applicable after the previous mutation)"


def _indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


# --- observation ------------------------------------------------------------------------------


def snapshot(paths: list[Path]) -> dict[str, tuple]:
    """Identity, mode, owner and content hash of every entry under `paths` (no symlink follow)."""
    out: dict[str, tuple] = {}
    for top in paths:
        entries = [top]
        if top.is_dir() and not top.is_symlink():
            entries += sorted(top.rglob("*"))
        for path in entries:
            try:
                st_ = path.lstat()
            except FileNotFoundError:
                out[str(path)] = ("missing",)
                continue
            digest = ""
            if stat.S_ISREG(st_.st_mode) and st_.st_size < 10**7:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st_.st_mode):
                digest = os.readlink(path)
            out[str(path)] = (st_.st_mode, st_.st_uid, st_.st_gid, st_.st_size, digest)
    return out


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_tool(w: World, args: list[str]) -> subprocess.CompletedProcess[str]:
    tmpdir = w.root / "tmp"
    tmpdir.mkdir(exist_ok=True)
    # No engine answers: nothing a hostile case does can reach a container (compose's `config`,
    # which lint uses, needs no engine).
    env = dict(
        os.environ,
        TMPDIR=str(tmpdir),
        NO_COLOR="1",
        COLUMNS="200",
        DOCKER_HOST=f"unix://{w.root}/no-engine.sock",
    )
    try:
        return subprocess.run(
            [str(CONSOLE_SCRIPT), "-C", str(w.project), *args],
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=HANG_GUARD_S,
            preexec_fn=_limits,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(args)}` hung (no exit within {HANG_GUARD_S}s)")


def written_outside_store(w: World, before: set[str]) -> list[Path]:
    """Regular files under the project (not in the secrets dir) new or changed by the run."""
    found = []
    store = w.store.resolve() if w.store.exists() else w.store
    for root, dirs, files in os.walk(w.project):
        dirs[:] = [d for d in dirs if Path(root, d) != w.store and Path(root, d) != store]
        for name in files:
            found.append(Path(root, name))
    return [p for p in found if p.is_file() and not p.is_symlink()]


# --- the property -----------------------------------------------------------------------------


@st.composite
def cases(draw):
    mutations = draw(
        st.lists(st.sampled_from(MUTATIONS), min_size=0, max_size=2, unique_by=lambda m: m)
    )
    knobs = [draw(st.integers(min_value=0, max_value=10_000)) for _ in mutations]
    command = draw(st.sampled_from(COMMANDS))
    bad = draw(st.sampled_from(BAD_NUMBERS))
    json_mode = draw(st.booleans())
    return mutations, knobs, command, bad, json_mode


def _settings():
    random = bool(os.environ.get("TITAN_FUZZ_RANDOM"))
    return settings(
        max_examples=int(os.environ.get("TITAN_FUZZ_EXAMPLES", "120")),
        deadline=None,
        derandomize=not random,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
        # no shrinking: a hung case costs the whole hang guard per shrink step
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


@_settings()
@given(cases())
def test_hostile_inputs_are_refused_cleanly(case) -> None:
    mutations, knobs, command, bad, json_mode = case
    w = make_world()
    try:
        labels = [_mutate(m, w, n) for m, n in zip(mutations, knobs, strict=True)]
        fifo = w.root / "in.fifo"
        os.mkfifo(fifo)
        args = [a.format(outside=w.outside, project=w.project, bad=bad, fifo=fifo) for a in command]
        args = (["--json"] if json_mode else []) + args
        watched = [w.outside, w.project / PROD, w.project / "secrets.example"]
        if not any(m in mutations for m in (m_control_char, m_manifest_alias_bomb)):
            watched.append(w.manifest)
        before = snapshot(watched)
        done = run_tool(w, args)
        where = f"{labels} `titan-deploy {' '.join(args)}` -> {done.returncode}"
        check_outcome(w, done, json_mode, where)
        assert snapshot(watched) == before, f"{where}: a file the tool does not own changed"
        canaries = Canaries({k: v for k, v in w.values.items() if len(v.strip()) >= 12})
        for path in written_outside_store(w, set()):
            if path.name in (PROD,) or path.parent == w.outside:
                continue
            if path == w.project / ".env":
                continue
            if path == w.manifest and m_manifest_is_a_value in mutations:
                continue  # the case planted the value there itself
            with open(path, "rb") as handle:  # bounded: a case may leave a huge file
                text = handle.read(10**6).decode("utf-8", "replace")
            canaries.assert_clean(text, f"{where}: file {path.relative_to(w.project)}")
        canaries.assert_clean(done.stdout, f"{where}: stdout")
        canaries.assert_clean(done.stderr, f"{where}: stderr")
    finally:
        _rmtree(w.root)


def check_outcome(w: World, done, json_mode: bool, where: str) -> None:
    assert done.returncode in (0, 1, 2, 3), f"{where}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr + done.stdout, f"{where}\n{done.stderr[-3000:]}"
    assert "internal error" not in done.stderr, f"{where}\n{done.stderr[-1000:]}"
    if json_mode:
        try:
            doc = json.loads(done.stdout)
        except ValueError:
            pytest.fail(f"{where}: stdout is not one JSON document:\n{done.stdout[:800]}")
        assert isinstance(doc, dict) and doc.get("exit_code") == done.returncode, where
    if done.returncode in (2, 3) and not json_mode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{where}: want one line on stderr, got:\n{done.stderr[:1500]}"


def _rmtree(root: Path) -> None:
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                os.chmod(path, 0o700)
    shutil.rmtree(root, ignore_errors=True)
