"""`titan-deploy schema` through the console script (README "Manifest schema"): the shipped
schema, needing no project, and accepting the repository's manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema  # a test dependency (pyproject [test]): never skipped
import yaml

from tests.paths import PACKAGE, REPO

CONSOLE_SCRIPT = Path(sys.executable).parent / "titan-deploy"


def test_schema_prints_the_shipped_schema_anywhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "schema"],
        cwd=tmp_path,  # no manifest here: the command reads no project
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == (PACKAGE / "schema" / "manifest.schema.json").read_text()
    schema = json.loads(done.stdout)
    manifest = yaml.safe_load((REPO / "secrets.manifest.yml").read_text())
    jsonschema.Draft7Validator(schema).validate(manifest)
