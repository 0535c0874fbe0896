"""The compose files as the tool parses them itself (for positions, names and `!reset` tags),
with Compose's top-level `include:` followed (issue 10 item 4).

Compose itself is asked wherever it can answer (the merged model, the active services, the
project name: io/compose.py); this reader is for what only the files say: which service a base
file defines, what its `environment:` and `secrets:` entries are, which profiles a service is in.

`include:` entries are followed in Compose's forms: a path, a list of paths, or a mapping with
`path:` (a string or a list) and `project_directory:`; relative paths are taken from the
including file's directory, and an included file's own includes from its own. The included
documents come BEFORE the including one (Compose loads an include first and the file's own
definitions then extend it). A cycle, a missing included file (Compose reports it itself) and
more than MAX_FILES files end the walk quietly. An included file may lie outside the project dir
(Compose allows it): it is read, never written — `inside` says which is which, so that a writer
(adopt's env-file rewrite) can refuse to touch it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from titan_deploy.core.yamlpos import Located, load_file

MAX_FILES = 64


@dataclass(frozen=True)
class ComposeDoc:
    """One parsed compose file: `display` (as given, or relative to the project dir), its
    absolute `path`, the parsed `located` document, `included` when an `include:` named it, and
    `inside` when it lies inside the project dir (never through `..`)."""

    display: str
    path: Path
    located: Located
    included: bool = False
    inside: bool = True

    @property
    def value(self) -> object:
        return self.located.value


def load_compose_files(project_dir: Path, files: Sequence[str]) -> list[ComposeDoc]:
    """The compose `files` (relative to `project_dir`, in `-f` order) parsed, each preceded by
    the files its `include:` names (recursively). ConfigError (exit 2) when a named file is not
    valid YAML; OSError when a given (not included) file cannot be read."""
    root = Path(os.path.abspath(project_dir))
    seen: set[Path] = set()
    out: list[ComposeDoc] = []
    for file in files:
        path = Path(os.path.abspath(root / file))
        _load(root, path, file, False, seen, out)
    return out


def _load(
    root: Path, path: Path, display: str, included: bool, seen: set[Path], out: list[ComposeDoc]
) -> None:
    if path in seen or len(seen) >= MAX_FILES:
        return
    seen.add(path)
    if included and not path.is_file():
        return  # compose says what is wrong with it (render validates, lint reports)
    located = load_file(path, display=display)
    for child, base in _includes(located.value, path.parent):
        child_path = Path(os.path.abspath(base / child))
        _load(root, child_path, _shown(root, child_path), True, seen, out)
    out.append(ComposeDoc(display, path, located, included, path.is_relative_to(root)))


def _includes(doc: object, here: Path) -> list[tuple[str, Path]]:
    """(path, dir it is relative to) of each file a document's `include:` names."""
    entries = doc.get("include") if isinstance(doc, dict) else None
    out: list[tuple[str, Path]] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            out.append((entry, here))
        elif isinstance(entry, dict):
            paths = entry.get("path")
            for item in [paths] if isinstance(paths, str) else paths or []:
                if isinstance(item, str):
                    out.append((item, here))
    return out


def _shown(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
