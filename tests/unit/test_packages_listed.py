"""Every package of titan_deploy ships in the wheel: pyproject.toml lists packages by name, so a new
subpackage (core/rotation/ was one) must be added there or the installed tool cannot import it."""

from __future__ import annotations

import re

from tests.paths import PACKAGE, REPO


def listed_packages() -> set[str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = text.split("[tool.setuptools]", 1)[1].split("packages = [", 1)[1].split("]", 1)[0]
    return set(re.findall(r'"([^"]+)"', block))


def test_every_package_is_listed_in_pyproject() -> None:
    found = {
        ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        for init in PACKAGE.rglob("__init__.py")
    }
    assert found - listed_packages() == set()
