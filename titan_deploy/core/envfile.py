"""The values in a dotenv file (`.env`, `env_file:`), as texts to scrub from output. PURE.

Not a dotenv parser for deployment (compose reads env files itself): this errs on the side of
returning too much. For each `KEY=VALUE` line, and each YAML-style `KEY: VALUE` line (Compose's
dotenv grammar, compose-go, reads both; core/dotenv.py), it returns the value as written
(quotes, escapes, `$` and all) and unquoted; a line without either (a line of a multi-line
quoted value) is returned whole, and so is a `KEY: VALUE` line (it may be such a line too).
Compose's own settings (`COMPOSE_*`, `DOCKER_*`) configure compose, not a service, and are left
out so that error lines naming a project or a host stay readable.
"""

from __future__ import annotations

import re

NOT_SECRET_PREFIXES = ("COMPOSE_", "DOCKER_")
_YAML_STYLE = re.compile(r"([A-Za-z0-9_.\-\[\]]+)[ \t]*:(.*)")  # compose-go's names, then `:`


def env_file_values(text: str) -> list[str]:
    """Every value-like text of the env file `text` (possibly with duplicates)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        yaml_style = _YAML_STYLE.fullmatch(line)
        if yaml_style and (not sep or ":" in key):  # `KEY: value` (its `:` before any `=`)
            key, rest = yaml_style[1], yaml_style[2]
            if not key.startswith(NOT_SECRET_PREFIXES):
                out += [line, *_value_forms(rest.strip())]
            continue
        if not sep:
            out.append(line)
            continue
        if key.strip().startswith(NOT_SECRET_PREFIXES):
            continue
        out += _value_forms(rest.strip())
    return [v for v in out if v]


def _value_forms(rest: str) -> list[str]:
    forms = [rest]
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = rest.find(quote, 1)
        forms.append(rest[1:end] if end > 0 else rest[1:])
    elif " #" in rest:
        forms.append(rest.split(" #", 1)[0].rstrip())
    return forms
