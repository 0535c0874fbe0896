"""YAML loading that remembers where every key came from, so errors can say file:line key.path.

PyYAML's composer gives nodes with marks; we build plain Python values from them and a map from
key path (a tuple) to 1-based line. Duplicate keys, which PyYAML would silently collapse, are
errors here: a manifest or compose file with two `consumers:` keys means something nobody wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from titan_deploy.core.fileread import TooLarge, UnsafeFile, read_bounded
from titan_deploy.core.limits import MAX_CONFIG_BYTES
from titan_deploy.errors import ConfigError

KeyPath = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data plus the line of each key path, for error messages."""

    value: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    source: str = "<string>"

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
    """Parse one YAML document into plain values with key lines. Raises ConfigError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{source}:{line}: not valid YAML: {problem}") from None
    located = Located(None, {}, source)
    if node is None:
        return located
    located.value = _build(node, (), located)
    return located


def load_file(path: Path, display: str | None = None) -> Located:
    """Read (bounded: a regular file of at most MAX_CONFIG_BYTES, never a FIFO or device) and
    parse one YAML file. Raises ConfigError naming the file."""
    source = display or str(path)
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: file not found") from None
    except TooLarge:
        raise ConfigError(f"{source}: larger than {MAX_CONFIG_BYTES >> 20} MiB: refused") from None
    except UnsafeFile as exc:
        raise ConfigError(f"{source}: {exc.reason}: refused") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read: {type(exc).__name__}") from None
    return load_located(text, source)


def _build(node: yaml.Node, path: KeyPath, located: Located) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, located)
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), located) for i, child in enumerate(node.value)]
    return _scalar(node, located.source, path)


def _build_mapping(node: yaml.MappingNode, path: KeyPath, located: Located) -> dict:
    out: dict = {}
    for key_node, value_node in _merged_pairs(node, located.source):
        key = _scalar(key_node, located.source) if isinstance(key_node, yaml.ScalarNode) else None
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool) or key is None:
            raise ConfigError(f"{located.source}:{line}: {format_path(path)}: keys must be strings")
        if key in out:
            where = format_path((*path, str(key)))
            raise ConfigError(f"{located.source}:{line}: {where}: duplicate key")
        child_path = (*path, str(key))
        located.lines[child_path] = line
        out[str(key) if isinstance(key, str) else key] = _build(value_node, child_path, located)
    return out


def _merged_pairs(node: yaml.MappingNode, source: str) -> list[tuple[yaml.Node, yaml.Node]]:
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
                    line = src.start_mark.line + 1
                    raise ConfigError(f"{source}:{line}: a merge key needs a mapping")
                merged.extend(_merged_pairs(src, source))
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


def _scalar(node: yaml.Node, source: str, path: KeyPath = ()) -> Any:
    """Construct one scalar with the safe loader's rules (ints, bools, timestamps stay typed).

    Errors are one line and never quote the value (PyYAML's own messages show the source line,
    and `!!int x` would echo x): the problem, or the tag that could not be built.
    """
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        line = node.start_mark.line + 1
        where = f" {format_path(path)}:" if path else ""
        tag = str(node.tag).rsplit(":", 1)[-1]
        problem = getattr(exc, "problem", None) or f"not a valid {tag}"
        raise ConfigError(f"{source}:{line}:{where} cannot read value: {problem}") from None
    finally:
        loader.dispose()
