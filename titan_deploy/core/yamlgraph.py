"""A YAML document's node graph, composed and bounded, with errors that never quote the file
(core/yamlpos.py builds plain values and key lines from it).

- Composing: libyaml (C, ~10x faster than PyYAML's Python composer: issue 15) where both agree
  (`_compose_libyaml`), else PyYAML's Python composer, whose errors and lines are the ones
  raised (tests/unit/core/test_yamlpos_libyaml.py: both parse every document the same).
- Bounds, checked on the graph before anything is expanded: a "billion laughs" document (each
  level aliases the previous one N times) would grow without limit in memory and time. The graph
  may expand to at most ALIAS_EXPANSION_LIMIT nodes beyond its own size, may not nest deeper than
  MAX_DEPTH, and an alias inside its own anchor (a recursive alias) is refused.
- Errors never quote the file: PyYAML's problem text embeds aliases, anchors, tags and characters
  of the file (`found undefined alias 'x'` of a value `*x...` is the value minus its first
  character); only PyYAML's own token names are kept (`safe_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from titan_deploy.errors import ConfigError

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


def composed(text: str, source: str, line_at: Callable[[int], int]) -> yaml.Node | None:
    """The node graph of one document (None for an empty one), its bounds checked
    (`_check_graph`): libyaml's when it decides (`_compose_libyaml`) and the graph is well
    within the bounds, else the Python composer's. `line_at` maps a character index to its
    1-based line. Raises ConfigError `source:LINE: ...` (never quoting the text); a bound's
    message says "not valid here:"."""
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
    `composed` then checks the bounds and leaves a graph over any of them, or nested
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
