"""Text scanners for lint: every string of a compose config, its `${VAR}`s, and the shell
constructs that put a secret on a command line. Pure; nothing here returns a value's text except
variable names and /run/secrets/ paths.

In `docker compose config --no-interpolate` output a compose interpolation is `$VAR` / `${VAR...}`
and a literal dollar for the container's shell is escaped as `$$`: `$$VAR` and `$$(cat f)` are
expanded by a shell inside the container at run time, after compose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

_NAME_AFTER = re.compile(r"\{?([A-Za-z_][A-Za-z0-9_]*)")
_SUBST = re.compile(r"\$\$?\(([^()]*)\)|`([^`]*)`")
_SECRET_FILE = re.compile(
    r"(/run/secrets/[A-Za-z0-9_.\-/]*)|\$\$?\{?([A-Za-z_][A-Za-z0-9_]*_FILE)\b"
)
_ASSIGNED = re.compile(
    r"(?:^|[\s;&|(`'\"])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=[\"']?$"
)
_WORD = re.compile(r"[^\s'\"();|&]+")
_WRAPPERS = {"sh", "bash", "ash", "dash", "zsh", "-c", "-ec", "-ce", "exec", "env", "nohup"}
_WRAPPERS |= {"if", "then", "else", "do", "!", "time"}
_BUILTINS = {"echo", "printf", "export", "local", "readonly", "declare", "read", "test", "[", "[["}
_SEPARATORS = re.compile(r"[;|&\n(]")

Refs = tuple[list[str], list[tuple[str, int]]]


def walk_strings(
    node: Any, path: str = "", hide: Callable[[str], object] = lambda _: None
) -> Iterator[tuple[str, str]]:
    """(path, text) for every string under `node`, and every mapping key (path `... (key)`):
    `command[2]`, `labels.a.b`, `x-foo`.

    A mapping key for which `hide(key)` is truthy (a secret pasted as a key) is named
    `[REDACTED]` in the path, so a path can always be printed."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            name = "[REDACTED]" if hide(str(key)) else str(key)
            where = f"{path}.{name}" if path else name
            yield f"{where} (key)", str(key)  # a key is text too: a value pasted as a name
            yield from walk_strings(value, where, hide)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{index}]", hide)


def variable_refs(text: str) -> Refs:
    """(names compose interpolates, [(name, offset)] a container shell expands via `$$`)."""
    interpolated: list[str] = []
    runtime: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            i += 1
            continue
        escaped = text.startswith("$$", i)
        match = _NAME_AFTER.match(text, i + (2 if escaped else 1))
        if match is None:
            i += 2 if escaped else 1
            continue
        if escaped:
            runtime.append((match.group(1), i))
        else:
            interpolated.append(match.group(1))
        i = match.end()
    return interpolated, runtime


def interpolated(text: str) -> list[str]:
    """Names compose interpolates in `text` (`$X`, `${X}`, `${X:-d}`; not `$$X`)."""
    return variable_refs(text)[0]


def argv_secret_reads(text: str, is_secret_var: Callable[[str], bool]) -> list[str]:
    """What in a command string puts a secret's content on a command line, named (never its
    value): `/run/secrets/x` or `$X_FILE` read by `$(cat ...)`/backticks as an argument, or a
    secret shell variable (`$$DB_PASSWORD`, or one assigned from a secret file) expanded as an
    argument. Assignments (`P=$(cat /run/secrets/x)`) and shell builtins (`printf`, `echo`,
    `test`: no process, nothing in `ps`) are not command lines."""
    found: list[str] = []
    assigned: set[str] = set()
    for match in _SUBST.finditer(text):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        secret = _SECRET_FILE.search(body)
        if secret is None:
            continue
        what = secret.group(1) or f"${secret.group(2)}"
        target = _ASSIGNED.search(text[: match.start()])
        if target:
            assigned.add(target.group(1))
        elif not _builtin_at(text, match.start()):
            found.append(f"the content of {what}")
    for name, offset in variable_refs(text)[1]:
        secretish = name in assigned or (is_secret_var(name) and not name.endswith("_FILE"))
        if not secretish or _ASSIGNED.search(text[:offset]) or _builtin_at(text, offset):
            continue
        found.append(f"${name}")
    return list(dict.fromkeys(found))


def _builtin_at(text: str, offset: int) -> bool:
    """Whether the simple command around `offset` is a shell builtin (after sh -c / exec)."""
    start = max((m.end() for m in _SEPARATORS.finditer(text, 0, offset)), default=0)
    for word in _WORD.findall(text[start:offset]):
        if word in _WRAPPERS:
            continue
        return word in _BUILTINS
    return False
