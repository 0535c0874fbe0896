"""No module of the package grows past MAX_LINES lines (ARCHITECTURE.md "Where a change goes"):
a module that does is split by concern (core/yamlcache.py and core/yamlscalar.py from
core/yamlpos.py, core/matchers.py from core/leaks.py, ...), never trimmed by squeezing code."""

from __future__ import annotations

from tests.paths import PACKAGE

MAX_LINES = 450


def test_every_module_is_at_most_max_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert sizes, "no module found"
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"split these by concern (at most {MAX_LINES} lines each): {over}"
