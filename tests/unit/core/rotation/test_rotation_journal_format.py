"""The journal's on-disk format does not change when the code that reads it does.

The journals in `journals/*.json` (beside this file) were written by titan-deploy before the
rotation core became a package (commit f628020, `core/rotation.py`): an HMAC phase 1 awaiting phase
2 after a rolled-back db rotation, the same with a db rotation interrupted mid-step, an exchange
rotation rolling back, and a phase 1 as journaled before manifest entries were frozen (no `specs`).
`status_data.json` is what `rotate status` reported for each (`data`, without the paths), at a fixed
time. Every journal must load, save back byte for byte (the current format), and read the same to
`rotate status`.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.paths import REPO
from titan_deploy.core.manifest import load_manifest
from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import (
    journal_from_dict,
    journal_to_dict,
    phase2_allowed_at,
    rollback_pending,
)
from titan_deploy.errors import ConfigError
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.rotate.status import run_status
from titan_deploy.project import Project

HERE = Path(__file__).parent / "journals"
CURRENT = [
    "hmac_phase1_awaiting_phase2.json",
    "db_in_flight_step4_running.json",
    "exchange_rolling_back.json",
]
OLD = "hmac_phase1_without_frozen_entries.json"
H = "titan_hmac_secret"
NOW = datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc)


def project_with(tmp_path: Path, fixture: str) -> Project:
    directory = tmp_path / "project"
    directory.mkdir()
    shutil.copy2(REPO / "secrets.manifest.yml", directory / "secrets.manifest.yml")
    project = Project(project_dir=directory)
    project.state_dir.mkdir()
    shutil.copy2(HERE / fixture, project.state_dir / "state.json")
    return project


@pytest.mark.parametrize("fixture", CURRENT)
def test_a_journal_round_trips_to_the_same_document(fixture: str) -> None:
    doc = json.loads((HERE / fixture).read_text())
    assert journal_to_dict(journal_from_dict(doc)) == doc


@pytest.mark.parametrize("fixture", CURRENT)
def test_a_journal_loads_and_saves_back_byte_for_byte(tmp_path: Path, fixture: str) -> None:
    project = project_with(tmp_path, fixture)
    journal_io.save(project, journal_io.load(project))
    assert journal_io.state_path(project).read_bytes() == (HERE / fixture).read_bytes()


@pytest.mark.parametrize("fixture", [*CURRENT, OLD])
def test_status_reads_a_journal_as_it_did(tmp_path: Path, fixture: str) -> None:
    expected = json.loads((HERE / "status_data.json").read_text())[fixture[: -len(".json")]]
    data = run_status(project_with(tmp_path, fixture), now=NOW).data
    got = json.loads(json.dumps({k: v for k, v in data.items() if k not in ("journal", "lock")}))
    if fixture == OLD:  # a journal without frozen entries now reads as one with none
        for pending in got["pending"].values():
            assert pending.pop("specs", {}) == {}
    assert got == expected


def test_a_phase1_journaled_without_frozen_entries_is_still_aborted_from_the_journal() -> None:
    doc = json.loads((HERE / OLD).read_text())
    manifest = load_manifest(REPO / "secrets.manifest.yml")
    journal = journal_from_dict(doc)
    assert phase2_allowed_at(journal.pending[H]) == datetime(
        2025, 3, 2, 12, 12, tzinfo=timezone.utc
    )
    rolled = rollback_pending(manifest, journal, H, "abort", NOW, "operator")
    assert rolled.pending == {} and rolled.active is not None
    assert rolled.active.specs == {}
    assert rolled.active.initial[H]["titan-brain"] == Assignment()
    # the phase 1 pinned the base value as v1 and wrote v2: both go, signers back first
    assert [step.action for step in rolled.active.steps][-1] == "remove-versions"
    assert rolled.active.steps[-1].versions == (1, 2)


def _phase1_entry(**change: object) -> dict:
    doc = json.loads((HERE / CURRENT[0]).read_text())
    return {**doc["pending"][H], **change}


MALFORMED_ENTRIES = {
    "pending not an object": {"pending": {H: 1}},
    "pending empty": {"pending": {H: {}}},
    "pending time not ISO": {"pending": {H: _phase1_entry(phase1_completed_at="yesterday")}},
    "pending version a string": {"pending": {H: _phase1_entry(new_version="2")}},
    "pending hours a string": {"pending": {H: _phase1_entry(finish_after_hours="24")}},
    "pending spec bad env": {
        "pending": {
            H: _phase1_entry(
                specs={
                    H: {
                        **_phase1_entry()["specs"][H],
                        "consumers": [{"service": "x", "env": "A=B"}],
                    }
                }
            )
        }
    },
    "history empty entry": {"history": [{}]},
    "history secret a number": {
        "history": [{**json.loads((HERE / CURRENT[0]).read_text())["history"][0], "secrets": [1]}]
    },
}


@pytest.mark.parametrize("doc", MALFORMED_ENTRIES.values(), ids=MALFORMED_ENTRIES.keys())
def test_a_malformed_pending_or_history_entry_is_refused_when_the_journal_is_read(
    tmp_path: Path, cli, doc: dict
) -> None:
    """Typed at load, so `rotate status`, `--finish` and `abort` never meet a broken entry later:
    one line naming the file, exit 2."""
    project = project_with(tmp_path, CURRENT[0])
    journal_io.state_path(project).write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="unreadable rotation journal"):
        journal_io.load(project)
    result = cli("-C", project.project_dir, "rotate", "status")
    assert result.exit_code == 2
    assert "unreadable rotation journal" in result.output
    assert "Traceback" not in result.output
