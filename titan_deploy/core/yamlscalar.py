"""One top-level scalar of a YAML file from the parser's events, without building the document
(issue 15: check-secrets reads each compose file's `name:` for the project name). Anything the
events cannot decide goes through core/yamlpos.py's full parse, with its errors. Pure but for
the bounded read of the file (core/fileread.py, as yamlpos.load_file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from titan_deploy.core.yamlpos import load_located, read_text


def top_level_scalar(path: Path, key: str, display: str | None = None) -> Any:
    """The value of one top-level key of a YAML file (None when absent), e.g. a compose file's
    `name:`, without building the document when the parser's events decide it: a block or flow
    root mapping whose `key` is absent or maps to a plain scalar. Those events come from libyaml
    (C) when PyYAML has it, with no composition (no recursion, no alias expansion), ~10x faster
    than `load_file` on a large compose file (issue 15: check-secrets reads the project name).
    Anything else (an alias, a tag, a merge key, a key twice, several documents, a syntax error)
    goes through `load_file`, with its errors (ConfigError)."""
    source = display or str(path)
    text = read_text(path, source)
    decided, value = _scalar_from_events(text, key)
    if decided:
        return value
    doc = load_located(text, source).value
    return doc.get(key) if isinstance(doc, dict) else None


def _scalar_from_events(text: str, key: str) -> tuple[bool, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[Any] = []
    try:
        events = yaml.parse(text, Loader=loader)
        if not isinstance(next(events), yaml.StreamStartEvent):
            return False, None
        if not isinstance(next(events), yaml.DocumentStartEvent):
            return False, None
        if not isinstance(next(events), yaml.MappingStartEvent):
            return False, None
        depth = 1
        expect_key = True
        take = False
        for event in events:
            if depth == 1 and isinstance(event, yaml.MappingEndEvent):
                depth = 0
                continue
            if depth == 0:
                if not isinstance(event, (yaml.DocumentEndEvent, yaml.StreamEndEvent)):
                    return False, None  # a second document
                continue
            if depth == 1 and expect_key:
                if not isinstance(event, yaml.ScalarEvent) or event.tag or event.value == "<<":
                    return False, None
                take = event.value == key
                expect_key = False
                continue
            if depth == 1 and take:
                if not isinstance(event, yaml.ScalarEvent) or event.tag or found:
                    return False, None
                found.append(_plain_value(event))
                take, expect_key = False, True
                if found[-1] is _UNDECIDED:
                    return False, None
                continue
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if depth == 1:
                expect_key = True
    except yaml.YAMLError:
        return False, None
    return True, (found[0] if found else None)


_UNDECIDED = object()
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _plain_value(event: Any) -> Any:
    """A scalar event's value when it is certainly a string (quoted, or a plain word that YAML
    resolves to a string), else _UNDECIDED (numbers, booleans, null: the full parse types them)."""
    if event.style in ("'", '"'):
        return event.value
    if not event.style and _WORD.fullmatch(event.value):  # plain: None (Python) or "" (libyaml)
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, event.value, (True, False))
        if tag == "tag:yaml.org,2002:str":
            return event.value
    return _UNDECIDED
