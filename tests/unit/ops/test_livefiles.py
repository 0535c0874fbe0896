"""Live mounts' files (ops/livefiles.py): `render` puts the assigned version of a reloading
consumer's secret into its live directory, and a new assignment REPLACES it by a rename (a new
inode in the same directory: what a directory bind mount shows a running container)."""

from __future__ import annotations

import os
from pathlib import Path

from titan_deploy.core.overlay import Assignment
from titan_deploy.core.rotation import Journal
from titan_deploy.io import journal as journal_io
from titan_deploy.ops.render import run_render
from titan_deploy.project import Project

MANIFEST = """version: 1
compose_files: [compose.yml]
secrets:
  pw:
    kind: password
    min_length: 8
    consumers:
      srv:
        target: /run/secrets/srv/pw
        reload: {signal: SIGHUP}
        proof: {log: reloaded}
      cli: PW_FILE
"""


def project(tmp_path: Path) -> Project:
    (tmp_path / "secrets.manifest.yml").write_text(MANIFEST)
    (tmp_path / "compose.yml").write_text(
        "services:\n  srv: {image: busybox}\n  cli: {image: busybox}\n"
    )
    store = tmp_path / "secrets"
    store.mkdir(mode=0o700)
    (store / "pw").write_bytes(b"first-value-1234")
    (store / "pw.v1").write_bytes(b"second-value-5678")
    for path in store.iterdir():
        path.chmod(0o600)
    return Project(project_dir=tmp_path)


def test_render_writes_the_live_file_and_a_new_version_replaces_it(tmp_path: Path) -> None:
    p = project(tmp_path)
    report = run_render(p)
    live = tmp_path / "secrets/.live/srv/pw/pw"
    assert live.read_bytes() == b"first-value-1234"
    assert report.data["live"] == ["srv:/run/secrets/srv/pw"]
    assert os.stat(live).st_mode & 0o777 == 0o600
    first = os.stat(live).st_ino
    overlay = (tmp_path / "docker-compose.secrets.yml").read_text()
    assert 'source: "./secrets/.live/srv/pw"' in overlay and 'target: "/run/secrets/srv"' in overlay
    assert run_render(p).data["live"] == []  # unchanged: not rewritten
    journal_io.save(p, Journal(assignments={"pw": {"srv": Assignment(1)}}))
    assert run_render(Project(project_dir=tmp_path)).data["live"] == ["srv:/run/secrets/srv/pw"]
    assert live.read_bytes() == b"second-value-5678"
    assert os.stat(live).st_ino != first  # renamed in: a directory mount sees it
