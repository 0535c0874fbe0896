"""The click API typer is built on: typer >= 0.26 vendors click as `typer._click`, older typers
depend on the `click` package. The CLI needs click's parameter types and usage exceptions."""

from __future__ import annotations

try:
    from typer._click import exceptions, types
    from typer._click.core import Context, Parameter
except ImportError:  # pragma: no cover - typer before it vendored click
    from click import exceptions, types  # type: ignore[no-redef]
    from click.core import Context, Parameter  # type: ignore[no-redef,assignment,unused-ignore]

__all__ = ["Context", "Parameter", "exceptions", "types"]
