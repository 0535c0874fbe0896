"""`titan-deploy schema` (README "Manifest schema"): the manifest's JSON Schema, generated from the
validator's tables (core/schema.py). Needs no project; reads and writes nothing."""

from __future__ import annotations

from titan_deploy.core.schema import schema_json


def run_schema() -> str:
    """The manifest JSON Schema as text (one JSON document, final newline)."""
    return schema_json()
