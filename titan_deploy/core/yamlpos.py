"""YAML loading that remembers where every key came from, so errors can say file:line key.path.

PyYAML's composer gives nodes with marks; we build plain Python values from them and a map from
key path (a tuple) to 1-based line. Duplicate keys, which PyYAML would silently collapse, are
errors here: a manifest or compose file with two `consumers:` keys means something nobody wrote.

Hostile or mistaken input (a secret file passed as a manifest, a YAML bomb) gets one line:

- Lines are counted as editors and `grep -n` count them: by `\\n` only, from the mark's character
  index (PyYAML's own line counter also breaks lines at `\\r`, NEL, U+2028 and U+2029, and a
  control character is reported with a stream position and no line at all).
- Errors never quote the file: PyYAML's problem text embeds aliases, anchors, tags and characters
  of the file (`found undefined alias 'x'` of a value `*x...` is the value minus its first
  character); only PyYAML's own token names are kept.
- Aliases are bounded before anything is expanded: a "billion laughs" document (each level
  aliases the previous one N times) would grow without limit in memory and time. The node graph
  may expand to at most ALIAS_EXPANSION_LIMIT nodes beyond its own size, may not nest deeper than
  MAX_DEPTH, and an alias inside its own anchor (a recursive alias) is refused.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from titan_deploy.core import yamlcache
from titan_deploy.core.fileread import TooLarge, UnsafeFile, read_bounded
from titan_deploy.core.limits import MAX_CONFIG_BYTES
from titan_deploy.errors import ConfigError

KeyPath = tuple[str | int, ...]

ALIAS_EXPANSION_LIMIT = 10_000
"""Nodes that aliases may add to a document (a compose file's `<<: *common` adds a few hundred)."""

MAX_DEPTH = 200
"""Deepest nesting accepted (a manifest or compose file nests less than 20 levels)."""

# PyYAML's token names (safe to show); anything else quoted in a problem is text of the file.
_TOKEN_NAMES = {
    "<directive>",
    "<document start>",
    "<document end>",
    "<stream start>",
    "<stream end>",
    "<block sequence start>",
    "<block mapping start>",
    "<block end>",
    "<alias>",
    "<anchor>",
    "<tag>",
    "<scalar>",
    "[",
    "]",
    "{",
    "}",
    "?",
    ":",
    "-",
    ",",
    "\\t",
    " ",
}
_QUOTED = re.compile(r""" ?(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")
_STANDARD_TAG = re.compile(r"^tag:yaml\.org,2002:(str|int|float|bool|null|timestamp|binary)$")


@dataclass
class Located:
    """Plain data plus the line of each key path, for error messages."""

    value: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    source: str = "<string>"
    # key path -> RESET_TAG / OVERRIDE_TAG where a mapping value carries Compose's merge tag (a
    # `!reset` key is absent from `value`; readers that merge files need to know it was there)
    tags: dict[KeyPath, str] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int:
        """The line of `path`, or of its closest ancestor that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: KeyPath, message: str) -> ConfigError:
        dotted = format_path(path) or "(top level)"
        return ConfigError(f"{self.source}:{self.line(path)}: {dotted}: {message}")


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_located(text: str, source: str) -> Located:
    """Parse one YAML document into plain values with key lines.

    Raises ConfigError `source:LINE: problem` (never quoting the text) for invalid YAML, an alias
    bomb, a recursive alias, too deep nesting, duplicate keys and values the safe loader refuses.

    The same text under the same source is parsed once per process (core/yamlcache.py: keyed
    by the text itself, so an edited file is parsed again), and every call gets its own copy of
    the value, so a caller that changes it changes nothing the next caller sees.
    """
    parsed = yamlcache.lookup(source, text)
    if parsed is None:
        parsed = _parse(text, source)
        yamlcache.remember(source, text, parsed)
    return Located(
        yamlcache.copy_value(parsed.value), dict(parsed.lines), parsed.source, dict(parsed.tags)
    )


def _parse(text: str, source: str) -> Located:
    line_at = _line_counter(text)
    node = _composed(text, source, line_at)
    located = Located(None, {}, source)
    if node is None:
        return located
    located.value = _Builder(located, line_at).build(node, ())
    return located


def check_bounds(text: str, source: str) -> None:
    """Refuse (ConfigError) a document whose aliases or nesting exceed the bounds, without
    building it; any other YAML problem is left to whoever parses it next (compose has its own
    YAML rules and messages). For files handed to compose, which expands aliases unbounded."""
    if "*" not in text:  # no alias at all: nothing to expand (nesting is bounded by compose)
        return
    if yamlcache.holds(text):  # parsed whole, bounds included
        return
    line_at = _line_counter(text)
    try:
        _composed(text, source, line_at)
    except ConfigError as exc:
        if "not valid here:" in str(exc):  # the bounds (the graph's, the composer's depth)
            raise


def load_file(path: Path, display: str | None = None) -> Located:
    """Read (bounded: a regular file of at most MAX_CONFIG_BYTES, never a FIFO or device) and
    parse one YAML file (UTF-8, no newline translation). Raises ConfigError naming the file."""
    source = display or str(path)
    return load_located(read_text(path, source), source)


def read_text(path: Path, source: str) -> str:
    """A YAML file's text (bounded: a regular file of at most MAX_CONFIG_BYTES, never a FIFO or
    device; UTF-8, no newline translation). ConfigError naming `source` (and the line of the
    first byte that is not UTF-8)."""
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except TooLarge:
        raise ConfigError(f"{source}: larger than {MAX_CONFIG_BYTES >> 20} MiB: refused") from None
    except UnsafeFile as exc:
        raise ConfigError(f"{source}: {exc.reason}: refused") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or type(exc).__name__}") from None
    try:
        return data.decode("utf-8")  # no newline translation: lines stay those of the file
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{source}:{line}: not UTF-8 text") from None


# --- parsing -------------------------------------------------------------------------------------


def _line_counter(text: str) -> Callable[[int], int]:
    """Character index -> 1-based line, counting `\\n` only."""
    breaks = []
    at = text.find("\n")
    while at >= 0:
        breaks.append(at)
        at = text.find("\n", at + 1)
    return lambda index: bisect.bisect_left(breaks, index) + 1


class _TooDeep(Exception):
    def __init__(self, index: int) -> None:
        super().__init__("nested too deeply")
        self.index = index


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting beyond MAX_DEPTH while composing (PyYAML's composer
    recurses once per level: without this, deep nesting ends in a RecursionError)."""

    depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # the scanner's per-token work grows with the flow level: bound it before it is quadratic
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.index)
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.index)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _composed(text: str, source: str, line_at: Callable[[int], int]) -> yaml.Node | None:
    """The document's node graph, its bounds checked (`_check_graph`): libyaml's when it
    decides (`_compose_libyaml`) and the graph is well within the bounds, else the Python
    composer's, whose errors are the ones raised (ConfigError `source:LINE: ...`)."""
    node = _compose_libyaml(text)
    if node is not _UNDECIDED:
        try:
            if node is None or _check_graph(node, source, line_at) < MAX_DEPTH // 2:
                return node
        except ConfigError:
            pass  # over a bound: the Python composer says where, as it always did
    node = _compose(text, source, line_at)
    if node is not None:
        _check_graph(node, source, line_at)
    return node


def _compose(text: str, source: str, line_at: Callable[[int], int]) -> yaml.Node | None:
    loader = None
    try:
        loader = _BoundedLoader(text)
        return loader.get_single_node()
    except _TooDeep as exc:
        line = line_at(exc.index)
        raise ConfigError(
            f"{source}:{line}: not valid here: nested more than {MAX_DEPTH} deep"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = line_at(exc.position) if isinstance(exc.position, int) else 1
        what = f"control character #x{exc.character:02x}" if exc.character < 0x100 else "character"
        raise ConfigError(f"{source}:{line}: not valid YAML: a {what} is not allowed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = line_at(mark.index) if mark is not None else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: {yaml_problem(exc)}") from None
    except RecursionError:
        line = line_at(loader.get_mark().index) if loader is not None else 1
        raise ConfigError(f"{source}:{line}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


_UNDECIDED = object()
"""`_compose_libyaml`'s answer when the Python composer must parse the document."""

_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False)) and yaml._yaml.get_version() >= (0, 2, 5)
"""libyaml is there, with its nesting limit (0.2.5+: a deep document is an error, not a crash)."""


def _compose_libyaml(text: str) -> Any:
    """The node graph of `text` composed by libyaml (C, ~10x faster than PyYAML's Python
    composer: issue 15), or _UNDECIDED: then the Python composer parses it, with its messages
    and lines. Decided here only for plain ASCII (marks count characters as the Python reader
    does) that libyaml composes without error, and without what libyaml accepts where PyYAML's
    Python scanner refuses: a tab after a key (`a:\tb`), a `?` inside a flow collection
    (`[a?b]`; any `?` with any flow indicator goes to the Python composer).
    `_composed` then checks the bounds and leaves a graph over any of them, or nested
    MAX_DEPTH // 2 deep, to the Python composer too (tests/unit/core/test_yamlpos_libyaml.py:
    both parse every document the same)."""
    if not _LIBYAML or "\t" in text or not text.isascii():
        return _UNDECIDED
    if "?" in text and ("[" in text or "{" in text):
        return _UNDECIDED
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
    except Exception:  # any problem: the Python composer words it
        return _UNDECIDED
    finally:
        loader.dispose()
    return node


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's problem in words, without any text of the file (only its token names)."""
    problem = getattr(exc, "problem", None) or "not valid YAML"
    if problem == "second occurrence":  # the composer's duplicate anchor
        return "found a duplicate anchor"
    return safe_problem(problem)


def safe_problem(problem: str) -> str:
    """`problem` with every quoted piece that is not a PyYAML token name removed."""

    def keep(match: re.Match[str]) -> str:
        content = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if content in _TOKEN_NAMES else ""

    return _QUOTED.sub(keep, problem).strip() or "not valid YAML"


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _check_graph(root: yaml.Node, source: str, line_at: Callable[[int], int]) -> int:
    """Refuse a recursive alias, nesting beyond MAX_DEPTH, or aliases that expand the document
    by more than ALIAS_EXPANSION_LIMIT nodes — measured on the composed graph (where an alias is
    a shared node), in time linear in its size, before anything is expanded. Returns the
    nesting depth (a node is first reached where it is written: an alias names an earlier
    anchor)."""
    limit = _distinct_nodes(root) + ALIAS_EXPANSION_LIMIT
    sizes: dict[int, int] = {}
    active = {id(root)}
    stack = [(root, _children(root))]
    deepest = 1
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            active.discard(id(node))
            size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > limit:
                line = line_at(node.start_mark.index)
                raise ConfigError(
                    f"{source}:{line}: not valid here: aliases expand to more than "
                    f"{ALIAS_EXPANSION_LIMIT} extra nodes (a YAML alias bomb?)"
                )
            sizes[id(node)] = size
            continue
        if id(child) in active:
            line = line_at(child.start_mark.index)
            raise ConfigError(
                f"{source}:{line}: not valid here: a recursive alias (an anchor used inside itself)"
            )
        if id(child) in sizes:
            continue
        if len(stack) >= MAX_DEPTH:
            line = line_at(child.start_mark.index)
            raise ConfigError(f"{source}:{line}: not valid here: nested more than {MAX_DEPTH} deep")
        active.add(id(child))
        stack.append((child, _children(child)))
        deepest = max(deepest, len(stack))
    return deepest


def _distinct_nodes(root: yaml.Node) -> int:
    seen = {id(root)}
    todo = [root]
    while todo:
        for child in _children(todo.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    return len(seen)


# --- building plain values -------------------------------------------------------------------

RESET_TAG = "!reset"
"""Compose's merge tag (v2.24+): the key it tags is removed from the merged model; read as unset."""
OVERRIDE_TAG = "!override"
"""Compose's merge tag (v2.24+): the value replaces the earlier files' one; read as the value."""


def _untagged(loader: yaml.resolver.Resolver, node: yaml.ScalarNode) -> yaml.ScalarNode:
    """`node` with the tag the YAML resolver would give it without `!override` (plain -> int,
    bool, null...; quoted -> str)."""
    tag = loader.resolve(yaml.ScalarNode, node.value, (not node.style, False))
    return yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, node.style)


class _Scalars(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """What building a scalar needs of PyYAML's safe loader (its constructor and resolver),
    without the reader, scanner and parser a `SafeLoader("")` would set up for each scalar."""

    def __init__(self) -> None:
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


class _Builder:
    def __init__(self, located: Located, line_at: Callable[[int], int]) -> None:
        self.located = located
        self.source = located.source
        self.line_at = line_at
        self.scalars = _Scalars()  # one per document: a failed scalar ends the build

    def line(self, node: yaml.Node) -> int:
        return self.line_at(node.start_mark.index)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.located.lines.setdefault(path, self.line(node))
        if node.tag == RESET_TAG:  # a document root or sequence item: nothing is set here
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = [c for c in node.value if c.tag != RESET_TAG]
            return [self.build(child, (*path, i)) for i, child in enumerate(items)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict:
        out: dict = {}
        for key_node, value_node in self.merged_pairs(node):
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            line = self.line(key_node)
            if not isinstance(key, str | int | float | bool) or key is None:
                where = format_path(path)
                raise ConfigError(f"{self.source}:{line}: {where}: keys must be strings")
            if key in out:
                where = format_path((*path, str(key)))
                raise ConfigError(f"{self.source}:{line}: {where}: duplicate key")
            child_path = (*path, str(key))
            if value_node.tag in (RESET_TAG, OVERRIDE_TAG):
                self.located.tags[child_path] = value_node.tag
            if value_node.tag == RESET_TAG:  # Compose's `!reset`: this file removes the key
                continue
            self.located.lines[child_path] = line
            out[str(key) if isinstance(key, str) else key] = self.build(value_node, child_path)
        return out

    def merged_pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Resolve `<<:` merge keys (used by compose files); explicit keys win over merged ones."""
        explicit: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        line = self.line(src)
                        raise ConfigError(f"{self.source}:{line}: a merge key needs a mapping")
                    merged.extend(self.merged_pairs(src))
            else:
                explicit.append((key_node, value_node))
        names = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
        seen: set = set()
        inherited = []
        for key_node, value_node in merged:
            if key_node.value in names or key_node.value in seen:
                continue
            seen.add(key_node.value)
            inherited.append((key_node, value_node))
        return inherited + explicit

    def scalar(self, node: yaml.Node, path: KeyPath = ()) -> Any:
        """Construct one scalar with the safe loader's rules (ints, bools, timestamps stay typed).

        Errors are one line and never quote the value nor a tag written in the file (PyYAML's
        messages show the source line, and `!!int x` would echo x): the problem, or the
        standard tag that could not be built, whatever the constructor raised.
        """
        loader = self.scalars
        if node.tag == OVERRIDE_TAG and isinstance(node, yaml.ScalarNode):
            node = _untagged(loader, node)
        try:
            return loader.construct_object(node, deep=True)
        except Exception as exc:  # PyYAML's constructors are not hardened: `!!int ""` is an
            # IndexError, `!!bool x` a KeyError, `!!timestamp x` an AttributeError
            line = self.line(node)
            where = f" {format_path(path)}:" if path else ""
            standard = _STANDARD_TAG.match(str(node.tag))
            fallback = f"not a valid {standard.group(1)}" if standard else "not a valid value"
            problem = getattr(exc, "problem", None)
            problem = safe_problem(problem) if problem else fallback
            message = f"{self.source}:{line}:{where} cannot read value: {problem}"
            raise ConfigError(message) from None
