"""Where the tests find the repository and the package, wherever a test file sits in the tree."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "titan_deploy"
