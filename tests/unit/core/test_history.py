"""core/history.py: records, their hash chain and what verify_chain finds (README "History")."""

from __future__ import annotations

import json

from titan_deploy.core import history
from titan_deploy.core.findings import Report
from titan_deploy.core.history import EMPTY, GENESIS, Head


def _chain(n: int) -> tuple[list[bytes], Head]:
    head, lines = EMPTY, []
    for i in range(n):
        record = history.new_record(
            head,
            when=f"2026-11-29T17:00:{i:02d}Z",
            who={"user": "op", "uid": 1000, "host": "h"},
            command="render",
            options={"check": False},
            what={"secrets": [f"s{i}"], "services": []},
            outcome=history.outcome_of(0),
        )
        lines.append(history.line_of(record))
        head = history.head_after(record)
    return lines, head


def _messages(lines: list[bytes], head: Head | None) -> list[str]:
    return [p.message for p in history.verify_chain(lines, head)]


def test_an_intact_chain_verifies() -> None:
    lines, head = _chain(5)
    assert history.verify_chain(lines, head) == []
    assert history.verify_chain([], None) == []
    first = json.loads(lines[0])
    assert first["prev"] == GENESIS and first["seq"] == 1
    assert json.loads(lines[1])["prev"] == first["hash"] == history.digest(first)


def test_an_edited_record_is_named() -> None:
    lines, head = _chain(4)
    record = json.loads(lines[1])
    record["what"]["secrets"] = ["other"]
    lines[1] = history.canonical(record) + b"\n"
    assert _messages(lines, head) == [
        "line 2 (record 2): edited — its content does not match its hash"
    ]


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link() -> None:
    lines, head = _chain(4)
    record = json.loads(lines[1])
    record["command"] = "up"
    record["hash"] = history.digest(record)
    lines[1] = history.canonical(record) + b"\n"
    problems = history.verify_chain(lines, head)
    assert [p.line for p in problems] == [3]


def test_a_removed_middle_record_is_named() -> None:
    lines, head = _chain(5)
    del lines[2]
    assert _messages(lines, head) == ["line 3 (record 4): record(s) 3 removed before it"]


def test_reordered_records_are_found() -> None:
    lines, head = _chain(5)
    lines[1], lines[2] = lines[2], lines[1]
    problems = history.verify_chain(lines, head)
    assert problems and problems[0].line == 2


def test_a_removed_last_record_is_found_by_the_head() -> None:
    lines, head = _chain(5)
    assert _messages(lines[:-1], head) == [
        "the history head names 5 record(s) but the log ends at record 4: the last 1 record(s) "
        "were removed"
    ]
    assert _messages(lines[:-1], None) == [
        "the history head file is missing: a removed last record cannot be detected"
    ]


def test_a_replaced_last_record_and_an_unheaded_append_are_found() -> None:
    lines, head = _chain(3)
    changed = json.loads(lines[2])
    changed["when"] = "2030-01-01T00:00:00Z"
    changed["hash"] = history.digest(changed)
    assert len(_messages([*lines[:2], history.canonical(changed)], head)) == 1
    assert "appended without the head" in _messages(lines, Head(2, json.loads(lines[1])["hash"]))[0]


def test_a_line_that_is_not_a_record() -> None:
    lines, head = _chain(3)
    lines[0] = b"not json"
    assert _messages(lines, head)[0] == "line 1: not a history record (edited)"


def test_what_takes_names_and_numbers_only() -> None:
    report = Report("rotate hmac", rows=[{"secret": "a", "service": "svc"}])
    report.data = {
        "secrets": ["b", "x" * 300, 5],
        "versions": {"b": 3, "c": "4", "d": True},
        "procedure": "hmac",
        "outcome": "completed",
        "reason": "anything at all",
        "project": "titan",
    }
    what = history.what_of(report)
    assert what == {
        "secrets": ["a", "b"],
        "services": ["svc"],
        "versions": {"b": 3},
        "project": "titan",
        "procedure": "hmac",
        "outcome": "completed",
    }
    assert history.options_of({"fix": True, "from_dir": "/x", "timeout": 30, "n": None}) == {
        "fix": True,
        "timeout": 30,
    }


def test_head_round_trip_and_malformed_heads() -> None:
    lines, head = _chain(2)
    assert history.parse_head(history.head_text(head)) == head
    assert history.last_head(lines) == head
    for bad in (b"", b"[]", b'{"count": -1, "hash": "00"}', b'{"count": 1, "hash": "zz"}'):
        assert history.parse_head(bad) is None
