"""Every document section the code cites exists in a clone (issue 11: the design lives in the repo).

Docstrings and comments point at `README "Heading"`, `ARCHITECTURE.md "Heading"` or
`ARCHITECTURE.md invariant N`; a cited heading must start a heading of that file (a citation
may abbreviate it), an invariant number must be one of ARCHITECTURE.md's numbered invariants.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for path in [
        *sorted((REPO / "titan_deploy").rglob("*.py")),
        *sorted((REPO / "tests").rglob("*.py")),
    ]
    if path != Path(__file__).resolve()
]
CITATION = re.compile(r'\b(README|ARCHITECTURE\.md)(?:\'s)? "([^"]+)"')
INVARIANT = re.compile(r"\bARCHITECTURE\.md,? invariants? (\d+)")


def headings(doc: str) -> list[str]:
    """The headings of a markdown file, without the leading #s."""
    text = (REPO / doc).read_text(encoding="utf-8")
    return [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]


def invariants() -> set[int]:
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Invariants", 1)[1].split("\n## ", 1)[0]
    return {int(n) for n in re.findall(r"^(\d+)\. ", section, re.MULTILINE)}


def citations() -> list[tuple[str, str, str]]:
    """(where, document, heading or invariant number) for every citation in the code."""
    found = []
    for path in SOURCES:
        text = " ".join(path.read_text(encoding="utf-8").split())  # citations wrap lines
        text = text.replace('""" ', " ").replace("# ", "")
        where = str(path.relative_to(REPO))
        found += [
            (where, doc.replace("README", "README.md"), h) for doc, h in CITATION.findall(text)
        ]
        found += [(where, "invariant", n) for n in INVARIANT.findall(text)]
    return found


def test_the_code_cites_the_documents() -> None:
    assert len(citations()) > 20


def test_every_cited_section_exists() -> None:
    known = {doc: headings(doc) for doc in ("README.md", "ARCHITECTURE.md")}
    numbers = invariants()
    missing = []
    for where, doc, cited in citations():
        if doc == "invariant":
            ok = int(cited) in numbers
        else:
            ok = any(h.startswith(cited) or cited in h for h in known[doc])
        if not ok:
            missing.append(f"{where}: {doc} {cited!r}")
    assert missing == []
