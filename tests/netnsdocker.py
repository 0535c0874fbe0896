"""Extra Docker engines for the Swarm tests, each in a network namespace of its own (README
"Several hosts", issue 13 item 6), so no test ever changes the main engine's swarm state.

A `Lab` creates two network namespaces (`tdtest-nd<pid>-<hex>-a`, `-b`) joined by one veth pair
whose addresses (10.213.<n>.1 and .2, /24) exist only inside them, and starts a `dockerd` in
either on demand: entered with `nsenter --net` (the host's mount namespace: its cgroup
hierarchy, so runc works on cgroup v1) and `unshare --uts` (a hostname of its own, which is
the node name Swarm reports), with its own --data-root, --exec-root (its own containerd),
--pidfile, --cgroup-parent, an empty --config-file and a unix socket under a temp dir: the host
reaches it through that socket alone, with no network address. The worker's dockerd (namespace
b) also listens on TCP at its veth address (`NsEngine.tcp`, plain HTTP: an address that exists
only inside the lab's namespaces, reachable from namespace a, as a manager reaches a worker over
the network); `in_netns` runs a command in namespace a to use it, `tcp_cut` makes it refuse.
Its iptables rules, bridges and swarm ports are those of its namespace. Images come from the
main engine by `docker save | docker load` (no registry). The storage driver is overlay2 where
the temp dir allows it, else vfs.

`Lab.close()` stops every dockerd (SIGTERM, then SIGKILL of it and of any process still naming
its dir: its containerd and shims), unmounts what is left under the dir, removes the cgroup
parents, the namespaces (the veth goes with them) and the dir; each step runs even when an
earlier one failed. Namespaces a dead test process left behind (by the pid in their name) are
removed when a new Lab starts.

What a test needs of the host is checked by `lab_problem()`: the caller passes it to tests'
`require()`, so in CI a missing `ip`/`dockerd`/`nsenter`/`unshare`, no root, or a kernel
without veth/vxlan fails the run instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "tdtest-nd"  # namespaces and cgroup parents: tdtest-nd<pid>-<hex>-a|b
DIR_PREFIX = "tdnd-"  # temp dirs: /tmp/tdnd-<pid>-<random>
SUBNET = "10.213"  # 10.213.<n>.0/24, only ever inside the lab's namespaces
TOOLS = ("ip", "dockerd", "nsenter", "unshare", "docker", "iptables")
TCP_PORT = 2375  # the worker's engine API on its veth address (only inside the namespaces)
START_TIMEOUT = 60.0  # seconds for a dockerd to answer on its socket
STOP_TIMEOUT = 60.0  # seconds for a dockerd to exit after SIGTERM
DRIVERS = ("overlay2", "vfs")


def run(*argv: str, stdin: bytes | None = None, timeout: float = 120, env=None):
    """A subprocess as CompletedProcess[str] (never raises on a non-zero exit)."""
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, check=False, timeout=timeout, env=env
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )  # fmt: skip


def lab_problem() -> str | None:
    """Why a Lab cannot run on this host (a tool, root, veth, vxlan), else None."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} (the netns Swarm lab needs them)"
    if os.geteuid() != 0:
        return "root (network namespaces and dockerd)"
    probe = f"{PREFIX}{os.getpid()}-probe{uuid.uuid4().hex[:4]}"
    try:
        made = run("ip", "netns", "add", probe)
        if made.returncode != 0:
            return f"`ip netns add` ({made.stderr.strip()[:200]})"
        inside = ("ip", "netns", "exec", probe, "ip", "link", "add")
        veth = run(*inside, "tdv0", "type", "veth", "peer", "name", "tdv1")
        if veth.returncode != 0:
            return f"kernel veth support ({veth.stderr.strip()[:200]})"
        vxlan = run(*inside, "tdx0", "type", "vxlan", "id", "42", "dstport", "4789", "dev", "tdv0")
        if vxlan.returncode != 0:
            return f"kernel vxlan support, for overlay networks ({vxlan.stderr.strip()[:200]})"
    finally:
        run("ip", "netns", "del", probe)
    return None


@dataclass
class NsEngine:
    """One dockerd in its own network namespace, reached through `host` (a unix socket)."""

    name: str  # its hostname: the node name Swarm reports
    netns: str
    root: Path
    address: str  # its address on the lab's veth
    tcp_port: int = 0  # also listen on tcp://address:port (0: the unix socket only)
    process: subprocess.Popen | None = None
    driver: str = ""
    loaded: set[str] = field(default_factory=set)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The DOCKER_HOST of this engine."""
        return f"unix://{self.socket}"

    @property
    def tcp(self) -> str:
        """Its engine's endpoint on the veth (reachable only from inside the namespaces)."""
        assert self.tcp_port, f"{self.name} does not listen on TCP"
        return f"tcp://{self.address}:{self.tcp_port}"

    def in_netns(self, argv: list[str]) -> list[str]:
        """`argv` run inside this node's network namespace (no fork: the same pid)."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv]

    @contextlib.contextmanager
    def tcp_cut(self):
        """While inside: every packet to its TCP endpoint is answered with a reset (the
        engine does not answer there), kept connections included; the unix socket and the
        swarm traffic are untouched."""
        rule = ["INPUT", "-p", "tcp", "--dport", str(self.tcp_port), "-j", "REJECT",
                "--reject-with", "tcp-reset"]  # fmt: skip
        check(run(*self.in_netns(["iptables", "-I", *rule])), "iptables -I")
        try:
            yield
        finally:
            check(run(*self.in_netns(["iptables", "-D", *rule])), "iptables -D")

    @property
    def env(self) -> dict[str, str]:
        """os.environ with DOCKER_HOST naming this engine (for the tool and the docker CLI)."""
        return {**os.environ, "DOCKER_HOST": self.host}

    @property
    def cgroup_parent(self) -> str:
        return self.netns

    def docker(self, *args: str, stdin: bytes | None = None, timeout: float = 120):
        """The docker CLI against this engine."""
        return run("docker", "-H", self.host, *args, stdin=stdin, timeout=timeout)

    def log_tail(self, lines: int = 15) -> str:
        path = self.root / "dockerd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def swarm_state(self) -> str:
        return self.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


class Lab:
    """Two namespaces joined by a veth pair, and a dockerd in each once asked for."""

    def __init__(self) -> None:
        sweep_stale()
        self.tag = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.base = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir="/tmp"))
        self.net = f"{SUBNET}.{int(uuid.uuid4().hex[:4], 16) % 250 + 2}"
        self.nodes: dict[str, NsEngine] = {}
        self.netns: list[str] = []
        try:
            self._namespaces()
        except BaseException:
            self.close()
            raise

    def _namespaces(self) -> None:
        a, b = f"{self.tag}-a", f"{self.tag}-b"
        for ns in (a, b):
            check(run("ip", "netns", "add", ns), f"ip netns add {ns}")
            self.netns.append(ns)
            check(run("ip", "-n", ns, "link", "set", "lo", "up"), "lo up")
        check(
            run("ip", "-n", a, "link", "add", "td0", "type", "veth", "peer", "td1", "netns", b),
            "the veth pair",
        )
        for ns, dev, host in ((a, "td0", 1), (b, "td1", 2)):
            check(run("ip", "-n", ns, "addr", "add", f"{self.net}.{host}/24", "dev", dev), "addr")
            check(run("ip", "-n", ns, "link", "set", dev, "up"), f"{dev} up")
        suffix = self.tag.rsplit("-", 1)[1]
        self.nodes["a"] = NsEngine(f"tdtest-mgr-{suffix}", a, self.base / "a", f"{self.net}.1")
        self.nodes["b"] = NsEngine(
            f"tdtest-wkr-{suffix}", b, self.base / "b", f"{self.net}.2", tcp_port=TCP_PORT
        )

    def engine(self, which: str) -> NsEngine:
        """The dockerd of namespace `which` ("a" or "b"), started on first use."""
        node = self.nodes[which]
        if node.process is None:
            start(node)
        return node

    def load(self, node: NsEngine, *tags: str) -> None:
        """Copy images from the main engine: `docker save | docker load` (not yet loaded ones)."""
        wanted = [t for t in tags if t not in node.loaded]
        if not wanted:
            return
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        save = subprocess.Popen(["docker", "save", *wanted], stdout=subprocess.PIPE, env=env)
        try:
            load = subprocess.run(
                ["docker", "-H", node.host, "load", "-q"],
                stdin=save.stdout, capture_output=True, timeout=600, check=False,
            )  # fmt: skip
        finally:
            assert save.stdout is not None
            save.stdout.close()
            saved = save.wait(timeout=600)
        if saved != 0 or load.returncode != 0:
            raise RuntimeError(f"docker save | load of {wanted}: {load.stderr.decode()[-500:]}")
        node.loaded.update(wanted)

    def close(self) -> None:
        """Stop and remove everything the lab made; every step runs, the first error raised."""
        errors: list[str] = []
        for node in self.nodes.values():
            attempt(errors, stop, node)
        attempt(errors, unmount_under, self.base)
        for node in self.nodes.values():
            attempt(errors, remove_cgroups, node.cgroup_parent)
        for ns in self.netns:
            attempt(errors, lambda ns=ns: check(run("ip", "netns", "del", ns), f"netns del {ns}"))
        attempt(errors, shutil.rmtree, self.base)
        if errors:
            raise RuntimeError("netns lab cleanup: " + "; ".join(errors))


def start(node: NsEngine) -> None:
    """Start `node`'s dockerd (overlay2, else vfs) and wait until it answers on its socket."""
    node.root.mkdir(parents=True, exist_ok=True)
    (node.root / "daemon.json").write_text("{}\n")
    why = ""
    for driver in DRIVERS:
        node.process = spawn(node, driver)
        why = wait_ready(node)
        if not why:
            node.driver = driver
            return
        stop(node)
        shutil.rmtree(node.root / "data", ignore_errors=True)
    raise RuntimeError(f"dockerd in {node.netns} did not start: {why}\n{node.log_tail()}")


def spawn(node: NsEngine, driver: str) -> subprocess.Popen:
    argv = [
        "nsenter", f"--net=/run/netns/{node.netns}", "--",
        "unshare", "--uts", "--",
        "sh", "-c", 'hostname "$0" && exec "$@"', node.name,
        "dockerd",
        "--config-file", str(node.root / "daemon.json"),
        "--data-root", str(node.root / "data"),
        "--exec-root", str(node.root / "exec"),
        "--pidfile", str(node.root / "docker.pid"),
        "--host", node.host,
        # --tls=false: plain TCP on purpose (dockerd would otherwise sleep 15 s to warn)
        *(("--host", node.tcp, "--tls=false") if node.tcp_port else ()),
        "--storage-driver", driver,
        "--cgroup-parent", node.cgroup_parent,
    ]  # fmt: skip
    log = open(node.root / "dockerd.log", "ab")  # noqa: SIM115 - the child keeps it
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()


def wait_ready(node: NsEngine) -> str:
    """ "" once the engine answers, else why not (it exited, or START_TIMEOUT passed)."""
    assert node.process is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            return f"exited with {node.process.returncode}"
        with contextlib.suppress(subprocess.TimeoutExpired):  # up, but not answering yet
            if node.socket.exists() and node.docker("version", timeout=10).returncode == 0:
                return ""
        time.sleep(0.2)
    return f"no answer within {START_TIMEOUT:g} s"


def stop(node: NsEngine) -> None:
    """SIGTERM the dockerd (it stops its containers and containerd), SIGKILL on timeout, then
    kill any process still naming the node's dir (an orphaned containerd or shim)."""
    proc = node.process
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    for pid in pids_naming(str(node.root)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def pids_naming(path: str) -> list[int]:
    """Processes whose command line names `path` (ours: it is a fresh temp dir)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if path in cmdline:
            out.append(int(entry.name))
    return out


def unmount_under(base: Path) -> None:
    """Lazily unmount every mount point under `base`, deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(base) or point.startswith(f"{base}/"):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        run("umount", "-l", point)


def remove_cgroups(parent: str) -> None:
    """Remove the cgroup dirs named `parent` in every hierarchy, children first, after killing
    any process left in them (a container of a dockerd that was killed, not stopped)."""
    root = Path("/sys/fs/cgroup")
    for top in [root / parent, *(d / parent for d in root.iterdir() if d.is_dir())]:
        if not top.is_dir():
            continue
        walked = sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True)
        for dirpath, _, _ in walked:
            procs = Path(dirpath) / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for dirpath, _, _ in walked:
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def dead_owner(name: str, prefix: str) -> bool:
    """Whether `name` is `<prefix><pid>-...` of a process that no longer exists."""
    pid = name[len(prefix) :].split("-", 1)[0] if name.startswith(prefix) else ""
    return pid.isdigit() and not Path(f"/proc/{pid}").exists()


def dockerds_naming(base: Path) -> list[int]:
    """The dockerd processes whose command line names `base`."""
    out = []
    for pid in pids_naming(str(base)):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
                out.append(pid)
    return out


def sweep_stale() -> None:
    """Remove what a lab of a test process that is gone (killed before its cleanup: the pid in
    the names) left: its dockerds (SIGTERM, then SIGKILL of what still names its dir), mounts,
    dirs, cgroups and namespaces. Another live session's lab is never touched."""
    for base in Path("/tmp").glob(f"{DIR_PREFIX}*"):
        if not dead_owner(base.name, DIR_PREFIX):
            continue
        for pid in dockerds_naming(base):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and dockerds_naming(base):
            time.sleep(0.2)
        for pid in pids_naming(str(base)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)
    root = Path("/sys/fs/cgroup")
    hierarchies = [root, *(h for h in root.iterdir() if h.is_dir())]
    cgroups = {d.name for h in hierarchies for d in h.glob(f"{PREFIX}*")}
    for parent in cgroups:
        if dead_owner(parent, PREFIX):
            remove_cgroups(parent)
    for ns in run("ip", "netns", "list").stdout.split():
        if dead_owner(ns, PREFIX):
            run("ip", "netns", "del", ns)


def check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{what}: {done.stderr.strip()[:300]}")


def attempt(errors: list[str], fn, *args) -> None:
    try:
        fn(*args)
    except Exception as exc:  # cleanup goes on; the errors are raised at the end
        errors.append(f"{getattr(fn, '__name__', 'step')}: {exc}")


# --- Swarm on the lab -----------------------------------------------------------------------


def swarm_init(node: NsEngine) -> None:
    """Make `node` a single-node swarm manager advertising its veth address."""
    if node.swarm_state() == "active":
        return
    done = node.docker(
        "swarm", "init", "--advertise-addr", node.address, "--listen-addr", f"{node.address}:2377"
    )
    check(done, f"swarm init on {node.name}")


def swarm_join(manager: NsEngine, worker: NsEngine) -> str:
    """Join `worker` to `manager`'s swarm over the veth; the worker's node id. The join token
    travels in the worker's argv: a test credential of a throwaway swarm, never a value."""
    token = manager.docker("swarm", "join-token", "-q", "worker")
    check(token, "join-token")
    done = worker.docker(
        "swarm", "join", "--token", token.stdout.strip(),
        "--advertise-addr", worker.address, "--listen-addr", f"{worker.address}:2377",
        f"{manager.address}:2377",
    )  # fmt: skip
    check(done, f"swarm join of {worker.name}")
    node_id = worker.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    return node_id


def swarm_remove(manager: NsEngine, worker: NsEngine, node_id: str) -> None:
    """The worker leaves and the manager forgets it."""
    worker.docker("swarm", "leave", "--force")
    manager.docker("node", "rm", "--force", node_id)
