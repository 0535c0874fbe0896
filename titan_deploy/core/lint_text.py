"""Text scanners for lint: every string of a compose config, its `${VAR}`s, and the shell
constructs that put a secret on a command line. Pure; nothing here returns a value's text except
variable names and /run/secrets/ paths.

In `docker compose config --no-interpolate` output a compose interpolation is `$VAR` / `${VAR...}`
and a literal dollar for the container's shell is escaped as `$$`: `$$VAR` and `$$(cat f)` are
expanded by a shell inside the container at run time, after compose.
"""

from __future__ import annotations

import bisect
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
_WRAPPERS |= {"if", "then", "else", "do", "!", "time", "while", "until"}
_BUILTINS = {"echo", "printf", "export", "local", "readonly", "declare", "read", "test", "[", "[["}
_BUILTINS |= {"case", "for"}  # shell syntax: `case "$X" in`, `for x in $X` start no process
_SEPARATORS = re.compile(r"[;|&\n(]")
ASSIGN_WINDOW = 512  # characters before a `$(...)` / `$$X` searched for its `NAME=`

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
    argument; a variable `read`/`mapfile` fills from a secret (`read T < /run/secrets/x`,
    `<<< "$(cat ...)"`, `while read ...; done < file`) expanded as an argument; a secret fed
    to `xargs` (its input becomes argv: `cat file | xargs`, `xargs -a file`, `< file xargs`); a
    secret run as shell code (`source`/`.` of the file, piped to `sh`). Assignments
    (`P=$(cat /run/secrets/x)`) and shell builtins (`printf`, `echo`, `test`: no process,
    nothing in `ps`) are not command lines."""
    found: list[str] = []
    assigned: set[str] = set()
    seps = [m.end() for m in _SEPARATORS.finditer(text)]
    for match in _SUBST.finditer(text):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        secret = _SECRET_FILE.search(body)
        if secret is None:
            continue
        what = secret.group(1) or f"${secret.group(2)}"
        target = _assigned_at(text, match.start())
        if target:
            assigned.add(target.group(1))
        elif not _builtin_at(text, match.start(), seps):
            found.append(f"the content of {what}")
    pipelines = [_stages(p) for script in _scripts(text) for p in _pipelines(script)]

    def is_secret(name: str) -> bool:
        return name in assigned or (is_secret_var(name) and not name.endswith("_FILE"))

    found += _stream_reads(pipelines, assigned, is_secret)
    for name, offset in variable_refs(text)[1]:
        if not is_secret(name) or _assigned_at(text, offset) or _builtin_at(text, offset, seps):
            continue
        found.append(f"${name}")
    return list(dict.fromkeys(found))


# --- a secret's content through a stream: read, xargs, source, a shell's stdin --------------

_READERS = {"read", "mapfile", "readarray"}
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
_OPTION_ARGS = {"-d", "-i", "-n", "-N", "-p", "-t", "-u"}  # read's options with an argument
_MAPFILE_ARGS = {"-d", "-n", "-O", "-s", "-u", "-C", "-c"}  # mapfile's (its -t takes none)
_SHELL_C = re.compile(r"(?:^|\s)-[a-z]*c")
_SECRET_INPUT = re.compile(
    r"(?<![<0-9&])<(?![<(&])\s*[\"']?(?:/run/secrets/|\$\$?\{?[A-Za-z_]\w*_FILE\b)"
)
_ARG_FILE = re.compile(
    r"(?:^|\s)(?:-a\s*|--arg-file[=\s]\s*)[\"']?(/run/secrets/|\$\$?\{?\w+_FILE)"
)
_PLACEHOLDER = "@SUBST@"
MAX_NESTING = 4
"""`$( ... $( ... ) ... )` levels read as scripts of their own (real commands nest two or three)."""
_LAUNCHERS = {"exec", "nohup", "env", "time", "!"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_REDIRECT = re.compile(r"\d*(?:<<<|<<|<|>>|>)&?\d*")


class _Stage:
    """One command of a pipeline: `flat` its text with nested `(...)` / backticks replaced by a
    placeholder (for its words), `full` the text with them (for the secrets it reads)."""

    def __init__(self, flat: str, full: str) -> None:
        self.flat = flat
        self.full = full
        self.words = _WORD.findall(flat)
        self.command = _command_word(self.words)
        self.program = _command_word(self.words, wrappers=False)  # `sh` of `... | sh` too


def _command_word(words: list[str], wrappers: bool = True) -> str:
    """The program a simple command runs: after sh -c / exec / env wrappers, `VAR=x` and
    redirections (`< file xargs ...`)."""
    operand = False
    for word in words:
        if operand:
            operand = False
        elif _REDIRECT.match(word):
            operand = _REDIRECT.fullmatch(word) is not None
        elif word not in (_WRAPPERS if wrappers else _LAUNCHERS) and not _ASSIGNMENT.match(word):
            return word
    return ""


def _stream_reads(
    stages: list[list[_Stage]], assigned: set[str], secret: Callable[[str], bool]
) -> list[str]:
    """What a pipeline feeds from a secret into a command line or shell code: `xargs` (its
    input becomes argv), `source`/`.`/`| sh` (content run as code); and (into
    `assigned`) the variables `read`/`mapfile` fill from a secret, for the `$$VAR` rule."""
    found: list[str] = []
    for _ in range(3):  # `read A < f; echo "$$A" | read B`: a variable can taint the next one
        before = len(assigned)
        found = []
        loop_input = False  # `while read X; ...; done < secret`: every read reads the secret
        for pipeline in stages:
            found += _pipeline_reads(pipeline, assigned, secret)
            loop_input = loop_input or any(
                s.command == "done" and _SECRET_INPUT.search(s.flat) for s in pipeline
            )
        if loop_input:
            for stage in (s for p in stages for s in p if s.command in _READERS):
                assigned.update(_read_names(stage.words))
        if len(assigned) == before:
            break
    return found


def _pipeline_reads(
    pipeline: list[_Stage], assigned: set[str], secret: Callable[[str], bool]
) -> list[str]:
    found: list[str] = []
    fed: str | None = None  # what a previous stage of this pipeline wrote from a secret
    for stage in pipeline:
        own = _secret_in(stage.full, secret)
        redirected = _SECRET_INPUT.search(stage.flat)
        source = fed or (own if redirected else None)
        if stage.command in _READERS and (source or own):
            assigned.update(_read_names(stage.words))
        elif stage.command == "xargs" and (source or _ARG_FILE.search(stage.flat)):
            found.append(f"the content of {source or own} (through xargs)")
        elif stage.command in {"source", "."} and own:
            found.append(f"the content of {own} run as shell code ({stage.command})")
        elif stage.program in _SHELLS and not _SHELL_C.search(stage.flat) and source:
            found.append(f"the content of {source} run as shell code (piped to {stage.program})")
        fed = fed or own
    return found


def _secret_in(text: str, secret: Callable[[str], bool]) -> str | None:
    """The first secret file (`/run/secrets/x`, `$X_FILE`) or secret variable `text` reads."""
    match = _SECRET_FILE.search(text)
    if match:
        return match.group(1) or f"${match.group(2)}"
    return next((f"${name}" for name, _ in variable_refs(text)[1] if secret(name)), None)


def _read_names(words: list[str]) -> set[str]:
    """The variables a `read`/`mapfile` command fills (options and their arguments skipped)."""
    names: set[str] = set()
    start = next((i for i, w in enumerate(words) if w in _READERS), len(words))
    takes_arg = _OPTION_ARGS if words[start : start + 1] == ["read"] else _MAPFILE_ARGS
    skip = False
    for word in words[start + 1 :]:
        if word.startswith("<"):
            break
        if skip:
            skip = False
        elif word in takes_arg:
            skip = True
        elif re.fullmatch(r"[A-Za-z_]\w*", word):
            names.add(word)
    return names


def _scripts(text: str) -> list[str]:
    """`text` and the body of every `(...)` and backtick substitution in it, nested ones too
    down to MAX_NESTING levels (each a script of its own; deeper ones are read as part of
    their parent, so a hostile string costs at most MAX_NESTING passes over its length)."""
    out = [text, *(m.group(2) for m in _SUBST.finditer(text) if m.group(2) is not None)]
    opened: list[int] = []
    for i, ch in enumerate(text):
        if ch == "(":
            opened.append(i)
        elif ch == ")" and opened:
            start = opened.pop()
            if len(opened) < MAX_NESTING:
                out.append(text[start + 1 : i])
    return out


def _pipelines(script: str) -> list[str]:
    """The pipelines of `script` at its top level (split at `;`, `&&`, `||`, `&` and
    newlines), nested `(...)` kept whole."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(script):
        ch = script[i]
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth <= 0:
            sep = _separator_at(script, i)
            if sep:
                out.append(script[start:i])
                start = i = i + sep
                continue
        i += 1
    out.append(script[start:])
    return [p for p in out if p.strip()]


def _separator_at(script: str, i: int) -> int:
    """The length of the command separator at `i` (0 if none)."""
    if script.startswith(("&&", "||"), i):
        return 2
    if script[i] in ";\n" or (script[i] == "&" and script[i - 1 : i] not in (">", "<")):
        return 1
    return 0


def _stages(pipeline: str) -> list[_Stage]:
    """The commands of one pipeline (split at a single `|` outside `(...)`)."""
    stages, depth, start, flat = [], 0, 0, []
    for i, ch in enumerate(pipeline):
        if ch == "(":
            depth += 1
            if depth == 1:
                flat.append(_PLACEHOLDER)
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and ch == "|":
            stages.append(_Stage("".join(flat), pipeline[start:i]))
            start, flat = i + 1, []
        elif depth == 0:
            flat.append(ch)
    stages.append(_Stage("".join(flat), pipeline[start:]))
    return stages


def _assigned_at(text: str, offset: int) -> re.Match[str] | None:
    """The `NAME=` (after `export`/`local`/...) that ends right before `offset`, if any. Looks
    at a bounded window: each call costs the same however long `text` is."""
    return _ASSIGNED.search(text[max(0, offset - ASSIGN_WINDOW) : offset])


def _builtin_at(text: str, offset: int, seps: list[int]) -> bool:
    """Whether the simple command around `offset` is a shell builtin (after sh -c / exec).
    `seps`: the end of every separator in `text`, ascending (bisected, not rescanned)."""
    start = seps[bisect.bisect_right(seps, offset) - 1] if seps and seps[0] <= offset else 0
    for word in _WORD.finditer(text, start, offset):
        if word.group(0) in _WRAPPERS:
            continue
        return word.group(0) in _BUILTINS
    return False
