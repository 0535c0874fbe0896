"""Helpers for the rotation tests on the real demo stack (tests/integration/test_rotation*.py).

- Traffic: a background poller that scrapes brain's and the listeners' counters (inside the
  containers, through the Docker API) every ~0.3 s and keeps the highest value per container, so
  counters that reset when a container is recreated are still summed correctly.
- run_td: runs titan-deploy as a subprocess while sampling /proc/*/cmdline (and, for the tool's
  own descendants, /proc/*/environ) of every process on the machine, for the canary rule.
- consistency checks of the secrets dir and the journal after a crash, resume or abort.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import canary
from tests.integration.demo import DEMO_FILES, DemoStack
from tests.integration.stackkit import Result
from tests.poll import wait_until

METRICS = {
    "titan-brain": ("http://127.0.0.1:3100/metrics", ("messages_signed", "messages_rejected")),
    "titan-execution": ("http://127.0.0.1:3002/metrics", ("auth_failures", "messages_accepted")),
    "titan-sentinel": ("http://127.0.0.1:8084/metrics", ("auth_failures", "messages_accepted")),
}
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


# Test-speed override, applied on top of the demo files for the whole life of the test stack:
# healthchecks every 1 s instead of 5 s, so `compose up --wait` of a recreated service returns in
# ~2 s. Nothing else changes (same images, users, secrets, overlay); the benchmark uses the plain
# demo files.
FAST_FILE = "tests-fast-health.yml"
FAST_HEALTH = """\
services:
""" + "".join(
    f"  {service}: {{healthcheck: {{interval: 1s, start_period: 30s}}}}\n"
    for service in (
        "postgres",
        "titan-brain",
        "titan-execution",
        "titan-sentinel",
        "titan-scavenger",
        "titan-ai-quant",
    )
)


class RotationStack(DemoStack):
    """The demo stack plus FAST_FILE, in every titan-deploy and compose call."""

    def td_argv(self) -> list[str]:
        return [*super().td_argv(), "-f", FAST_FILE]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "--project-directory", str(self.root), "-p", self.name]
        for file in [*DEMO_FILES, FAST_FILE, "docker-compose.secrets.yml"]:
            argv += ["-f", str(self.root / file)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, check=False)

    @property
    def files(self) -> list[str]:
        return [*DEMO_FILES, FAST_FILE]


def make_rotation_stack(demo: DemoStack) -> RotationStack:
    (demo.root / FAST_FILE).write_text(FAST_HEALTH)
    return RotationStack(root=demo.root, name=demo.name, image=demo.image, values=demo.values)


def docker_client():
    import docker

    return docker.from_env(timeout=60)


def scrape(container, url: str) -> dict[str, float]:
    """{family name: value} of a container's /metrics (prometheus-client's parser): over HTTP to
    the container's address on its compose network, else by `wget` through an exec."""
    from prometheus_client.parser import text_string_to_metric_families

    text = _fetch_direct(container, url)
    if text is None:
        code, out = container.exec_run(["wget", "-q", "-O", "-", url])
        if code != 0:
            return {}
        text = out.decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_total") or sample.name == family.name:
                values[family.name] = values.get(family.name, 0.0) + sample.value
    return values


def _fetch_direct(container, url: str) -> str | None:
    """`url` (http://127.0.0.1:PORT/path inside the container) fetched from here at the
    container's address on the engine's local bridge, or None when that address does not answer.

    The polls run every 0.3 s for the whole of a rotation test: an exec per container and poll
    (a process in the container, runc and the engine's bookkeeping) cost about half a core of
    a 2-core CI machine, which slowed every other test sharing it; a GET costs nearly nothing."""
    import urllib.request
    from urllib.parse import urlsplit

    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    addresses = [n.get("IPAddress") for n in networks.values() if n.get("IPAddress")]
    parts = urlsplit(url)
    if not _DIRECT_REACHABLE or not addresses or parts.hostname != "127.0.0.1":
        return None
    direct = f"http://{addresses[0]}:{parts.port}{parts.path}"
    try:
        with urllib.request.urlopen(direct, timeout=2) as resp:
            return resp.read().decode()
    except OSError as exc:  # refused or reset: a container being replaced; exec this time
        if isinstance(getattr(exc, "reason", exc), TimeoutError):
            _DIRECT_REACHABLE.clear()  # filtered, not refused: no more direct tries in this run
        return None


_DIRECT_REACHABLE = [True]  # emptied when the engine's bridge drops packets from here


class Traffic:
    """Poll the signer and listener counters until stopped; sums per container id."""

    def __init__(self, project: str, interval: float = 0.3) -> None:
        self.project = project
        self.interval = interval
        self.client = docker_client()
        self.seen: dict[str, dict[str, float]] = {}  # container id -> family -> max value
        self.service_of: dict[str, str] = {}
        self.polls = 0
        self.baseline: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self.poll()
        self.baseline = {cid: dict(values) for cid, values in self.seen.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.poll()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a container being replaced mid-poll
                continue

    def poll(self) -> None:
        containers = self.client.containers.list(
            filters={"label": f"{PROJECT_LABEL}={self.project}", "status": "running"}
        )
        for container in containers:
            service = container.labels.get(SERVICE_LABEL, "")
            if service not in METRICS:
                continue
            url, _ = METRICS[service]
            try:
                values = scrape(container, url)
            except Exception:
                continue
            self.service_of[container.id] = service
            mine = self.seen.setdefault(container.id, {})
            for name, value in values.items():
                mine[name] = max(mine.get(name, 0.0), value)
        self.polls += 1

    def total(self, family: str, services: tuple[str, ...] | None = None) -> float:
        """How much the counter grew since __enter__, summed over every container seen."""
        return sum(
            values.get(family, 0.0) - self.baseline.get(cid, {}).get(family, 0.0)
            for cid, values in self.seen.items()
            if services is None or self.service_of.get(cid) in services
        )

    def flows(self, messages: int = 3, timeout: float = 60.0) -> None:
        """Wait until brain has signed `messages` more messages than now (a bounded poll: the
        traffic after a change has been seen by the poller, however slow the machine)."""
        start = self.signed
        wait_until(lambda: self.signed >= start + messages, f"brain signs {messages} more", timeout)

    @property
    def rejected(self) -> float:
        return self.total("messages_rejected", ("titan-brain",))

    @property
    def auth_failures(self) -> float:
        return self.total("auth_failures", ("titan-execution", "titan-sentinel"))

    @property
    def signed(self) -> float:
        return self.total("messages_signed", ("titan-brain",))

    @property
    def accepted(self) -> float:
        return self.total("messages_accepted", ("titan-execution", "titan-sentinel"))


YOUNG_SAMPLES = 20  # ~1 s at one sample per 50 ms: a new process has exec'd by then


@dataclass
class ProcSampler:
    """Every process's argv while the tool runs; env of the tool's own descendants.

    A process is read while it is young (its first YOUNG_SAMPLES samples: its argv and env are
    fixed once it has exec'd), not at every sample: re-reading every process of a loaded machine
    20 times a second cost a tenth of a core per running tool for nothing new."""

    root_pid: int
    cmdlines: set[str] = field(default_factory=set)
    environs: set[str] = field(default_factory=set)
    samples: int = 0
    ages: dict[int, int] = field(default_factory=dict)  # pid -> samples it was read in
    parents: dict[int, int] = field(default_factory=dict)  # pid -> parent pid

    def sample(self) -> None:
        self.samples += 1
        pids = {int(entry) for entry in os.listdir("/proc") if entry.isdigit()}
        for gone in self.ages.keys() - pids:
            del self.ages[gone]
            self.parents.pop(gone, None)
        young = [pid for pid in pids if self.ages.get(pid, 0) < YOUNG_SAMPLES]
        for pid in young:
            self.ages[pid] = self.ages.get(pid, 0) + 1
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if raw:
                self.cmdlines.add(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
            self.parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        for pid in young:
            if self._descends_from_root(pid):
                try:
                    env = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                self.environs.add(env.replace(b"\0", b"\n").decode("utf-8", "replace"))

    def _descends_from_root(self, pid: int) -> bool:
        chain, p = set(), pid
        while p in self.parents and p not in chain:
            if p == self.root_pid:
                return True
            chain.add(p)
            p = self.parents[p]
        return p == self.root_pid


def run_td(
    stack,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 600,
    sampler_sink: list[ProcSampler] | None = None,
) -> Result:
    """titan-deploy as a subprocess, /proc sampled every ~50 ms while it runs."""
    argv = [*stack.td_argv(), *args]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    sampler = ProcSampler(proc.pid)
    out: dict[str, bytes] = {}

    def talk() -> None:
        out["stdout"], out["stderr"] = proc.communicate(stdin, timeout=timeout)

    talker = threading.Thread(target=talk, daemon=True)
    talker.start()
    while talker.is_alive():
        sampler.sample()
        time.sleep(0.05)
    talker.join()
    if sampler_sink is not None:
        sampler_sink.append(sampler)
    result = Result(
        argv,
        proc.returncode,
        out["stdout"].decode(errors="replace"),
        out["stderr"].decode(errors="replace"),
    )
    stack.outputs.append(result.output)
    return result


def remember_values(stack) -> None:
    """Add every value now in the secrets dir (base and versions) to the canary set."""
    for path in sorted((stack.root / "secrets").iterdir()):
        if path.is_file() and not path.name.startswith("."):
            value = path.read_bytes().strip()
            if value:
                stack.values[f"{path.name}@{len(stack.values)}"] = value


def assert_no_canary(stack, texts: list[str]) -> None:
    """No value the stack ever held (`remember_values`) in any of `texts` (tests/canary.py)."""
    canary.assert_no_canary(stack.values, texts)


def container_logs(project: str) -> str:
    client = docker_client()
    chunks = []
    for container in client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={project}"}
    ):
        chunks.append(container.logs(stdout=True, stderr=True).decode("utf-8", "replace"))
    return "\n".join(chunks)


def journal(stack) -> dict:
    path = stack.root / ".titan-deploy" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


TEMP_RE = re.compile(r"\.tmp-[0-9]+$")


def assert_consistent(stack, gid: int = 10500) -> dict:
    """No temp leftovers; every file the journal names exists with the right mode and group; no
    version file nobody names; `verify` green. Returns the journal."""
    secrets_dir = stack.root / "secrets"
    state_dir = stack.root / ".titan-deploy"
    leftovers = [
        p.name for d in (secrets_dir, state_dir) for p in d.iterdir() if TEMP_RE.search(p.name)
    ]
    assert leftovers == [], leftovers
    doc = journal(stack)
    assert doc.get("active") is None, "a rotation is still in flight"
    assert not (state_dir / "rotation.lock").exists(), "the lock was left behind"
    if (state_dir / "state.json").exists():
        assert (state_dir / "state.json").stat().st_mode & 0o777 == 0o600
    named: set[str] = set()
    for secret, services in (doc.get("assignments") or {}).items():
        for a in services.values():
            for version in (a.get("version"), a.get("secondary")):
                named.add(secret if version is None else f"{secret}.v{version}")
    for name in named:
        path = secrets_dir / name
        assert path.is_file(), f"{name} is named by the journal but missing"
    for path in secrets_dir.iterdir():
        if path.name == ".live":  # live mounts' copies (core/livemount.py), kept by render
            continue
        st = path.stat()
        assert st.st_mode & 0o777 == 0o640 and st.st_gid == gid, f"{path.name} mode/group"
        if re.search(r"\.v[0-9]+$", path.name):
            assert path.name in named, f"{path.name} is a version nobody uses"
    verify = run_td(stack, "--json", "verify")
    assert verify.returncode == 0, verify.output[-3000:]
    return doc


def psql_login(engine, brain_id: str, password: bytes) -> str:
    """Try a NEW connection from brain's container with `password` (script and password on
    stdin: never argv or env). Returns OK, REFUSED or ERROR."""
    script = (
        "import psycopg2\n"
        f"pw = {password.decode()!r}\n"
        "try:\n"
        "    psycopg2.connect(host='postgres', user='titan', dbname='titan', password=pw,\n"
        "                     connect_timeout=5).close()\n"
        "    print('OK')\n"
        "except psycopg2.OperationalError as exc:\n"
        "    print('REFUSED' if 'password authentication failed' in str(exc) else 'ERROR')\n"
    )
    result = engine.exec(brain_id, ["python3", "-"], stdin=script.encode(), timeout=30)
    return result.stdout.decode().strip() or f"ERROR exit {result.exit_code}"
