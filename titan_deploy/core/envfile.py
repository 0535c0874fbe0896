"""The values in a dotenv file (`.env`, `env_file:`), as texts to scrub from output. PURE.

Not a dotenv parser for deployment (compose reads env files itself): this errs on the side of
returning too much. For each `KEY=VALUE` line it returns the value as written (quotes, escapes,
`$` and all) and unquoted; a line without `=` (a line of a multi-line quoted value) is returned
whole. Compose's own settings (`COMPOSE_*`, `DOCKER_*`) configure compose, not a service, and
are left out so that error lines naming a project or a host stay readable.
"""

from __future__ import annotations

NOT_SECRET_PREFIXES = ("COMPOSE_", "DOCKER_")


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
