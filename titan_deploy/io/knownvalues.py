"""Every value on disk the CLI must never print: the secret store's files and the env files.

The CLI's scrubber (core.redact) is built from these, so that error text quoting one of them —
compose echoing a `.env` value in `Invalid template: "..."`, a key pasted into a compose file, a
secret file passed as the manifest — is redacted before it is shown:

- every regular file under the secrets dir (base files, rotation versions `<name>.vN`, stray
  files; two levels of subdirectories), except public content: a file identical to its
  `secrets.example` counterpart (a README, a placeholder) or a known placeholder word;
- the value of every line of every env file compose reads: the project's `.env`, the files in
  `COMPOSE_ENV_FILES`, and every `env_file:` named by the compose files (found by parsing them
  with the tool's safe loader, no interpolation; `include:` and `extends:` files too). Compose's
  own settings (`COMPOSE_*`, `DOCKER_*`) are not secrets and are left out, and so is adopt's
  stand-in `adopted-by-titan-deploy` (it would redact the tool's own name).

Reads are bounded (regular files only, never blocking, at most MAX_FILE_BYTES each and MAX_FILES
in all) and never fail: what cannot be read cannot be echoed by the tool either.

`Scrubber(sources)` is the CLI's text -> text function: a core.redact.Redactor over these values,
refreshed whenever a secrets dir or an env file changes (a rotation writes a new version while it
reports progress); a value once known is never forgotten.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from titan_deploy.core.envfile import env_file_values
from titan_deploy.core.redact import Redactor
from titan_deploy.core.secretvalue import is_placeholder
from titan_deploy.core.yamlpos import load_file
from titan_deploy.errors import TitanError

MAX_FILE_BYTES = 1 << 20
MAX_FILES = 2000
MAX_DEPTH = 2
_COMPOSE_HINTS = (b"env_file", b"include", b"extends")


@dataclass
class Sources:
    """Where the values are: secrets dirs, the example dir (public content), env files."""

    stores: list[Path] = field(default_factory=list)
    example_dir: Path | None = None
    env_files: list[Path] = field(default_factory=list)

    def values(self) -> list[bytes]:
        """Every value in them now."""
        out: list[bytes] = []
        for store in self.stores:
            out += store_values(store, self.example_dir)
        return out + env_values(self.env_files)

    def stamp(self) -> tuple:
        """Changes when a file is added to, renamed in or removed from a secrets dir (the tool's
        writes are renames) or an env file changes."""
        return tuple(_stat_key(path) for path in [*self.stores, *self.env_files])


def _stat_key(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Scrubber:
    """text -> text without any value of `sources` (re-read when they change) nor any value
    `remember`ed in this process (core.redact). Never raises."""

    def __init__(
        self, sources: Sources | None, public: Callable[[], Iterable[str]] = tuple
    ) -> None:
        self.redactor = Redactor([])
        self.sources = sources
        self.public = public  # texts never redacted: the compose project name
        self._stamp: tuple | None = None

    def __call__(self, text: str) -> str:
        if self.sources is not None:
            with contextlib.suppress(Exception):
                stamp = self.sources.stamp()
                if stamp != self._stamp:
                    self.redactor.add(self.sources.values())
                    self._stamp = stamp
        public: Iterable[str] = ()
        with contextlib.suppress(Exception):
            public = [p for p in self.public() if p]
        return self.redactor(text, public)


def read_small(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The first `limit` bytes of the regular file `path` (symlinks followed), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def store_values(store: Path, example_dir: Path | None = None) -> list[bytes]:
    """The content of every file under `store` that is not public (see the module doc)."""
    out: list[bytes] = []
    for path in _files_under(store):
        data = read_small(path)
        if data is None or not data.strip():
            continue
        example = read_small(example_dir / path.relative_to(store)) if example_dir else None
        if example is not None and example.strip() == data.strip():
            continue
        if is_placeholder(data.strip(), None):
            continue
        out.append(data)
    return out


def _files_under(root: Path) -> Iterable[Path]:
    count = 0
    for directory, dirs, files in os.walk(root, onerror=lambda _: None, followlinks=False):
        depth = len(Path(directory).relative_to(root).parts)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        for name in sorted(files):
            count += 1
            if count > MAX_FILES:
                return
            yield Path(directory, name)


def env_files(project_dir: Path, compose_files: Iterable[Path]) -> list[Path]:
    """Every env file compose may read for this project (existing or not)."""
    found: list[Path] = [project_dir / ".env"]
    for name in os.environ.get("COMPOSE_ENV_FILES", "").split(","):
        if name.strip():
            found.append(project_dir / os.path.expandvars(name.strip()))
    todo = list(compose_files)
    seen: set[Path] = set()
    while todo and len(seen) < 64:
        compose = todo.pop()
        if compose in seen:
            continue
        seen.add(compose)
        named_envs, named_composes = _references(compose)
        bases = {compose.parent, project_dir}
        found += [base / name for name in named_envs for base in bases]
        todo += [base / name for name in named_composes for base in bases]
    return list(dict.fromkeys(found))


def env_values(paths: Iterable[Path]) -> list[bytes]:
    """The values of every line of the env files `paths` (missing ones skipped), except adopt's
    stand-in (`adopted-by-titan-deploy`, core/adopt_model.STAND_IN): public text, and the
    tool's own name in every path and command it prints."""
    out: list[bytes] = []
    for path in paths:
        data = read_small(path)
        if data:
            from titan_deploy.core.adopt_model import STAND_IN  # adopt's dataclasses: only here

            values = env_file_values(data.decode("utf-8", "replace"))
            out += [v.encode() for v in values if v != STAND_IN]
    return out


def _references(compose: Path) -> tuple[list[str], list[str]]:
    """(env files, other compose files) named by one compose file; ([], []) if unreadable."""
    head = read_small(compose)
    if head is None or not any(hint in head for hint in _COMPOSE_HINTS):
        return [], []
    try:
        doc = load_file(compose).value
    except TitanError:
        return [], []
    if not isinstance(doc, dict):
        return [], []
    envs: list[str] = []
    composes: list[str] = []
    services = doc.get("services")
    for service in services.values() if isinstance(services, dict) else []:
        if not isinstance(service, dict):
            continue
        envs += _paths(service.get("env_file"))
        extends = service.get("extends")
        if isinstance(extends, dict):
            composes += _paths(extends.get("file"))
    includes = doc.get("include")
    for entry in includes if isinstance(includes, list) else []:
        if isinstance(entry, dict):
            composes += _paths(entry.get("path"))
            envs += _paths(entry.get("env_file"))
        else:
            composes += _paths(entry)
    return [os.path.expandvars(e) for e in envs], [os.path.expandvars(c) for c in composes]


def _paths(entry: object) -> list[str]:
    """`env_file:` / `path:` forms: a string, a list of strings, a list of {path: ...}."""
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, dict):
        return _paths(entry.get("path"))
    if isinstance(entry, list):
        return [p for item in entry for p in _paths(item)]
    return []
