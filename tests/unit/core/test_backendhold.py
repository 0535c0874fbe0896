"""The decisions that keep pinned backend versions (core/backendhold.py): KV v2's max_versions
arithmetic, Secrets Manager's label moves, and which pins are lost or at risk."""

from __future__ import annotations

from titan_deploy.core.backendhold import (
    KvMeta,
    PinState,
    aws_states,
    destroyed_by_write,
    effective_max,
    kv_states,
    label_moves,
    label_of,
    pin_findings,
    refusal,
)


def meta(current: int, oldest: int, maximum: int, **flags: tuple[bool, bool]) -> KvMeta:
    versions = {v: (False, False) for v in range(max(oldest, 1), current + 1)}
    versions.update({int(k[1:]): f for k, f in flags.items()})
    return KvMeta(current=current, oldest=oldest, max_versions=maximum, versions=versions)


def test_effective_max_is_the_keys_else_the_mounts_else_10() -> None:
    assert effective_max(3, 7) == 3
    assert effective_max(0, 7) == 7
    assert effective_max(0, 0) == effective_max(0, None) == 10


def test_a_write_destroys_the_versions_past_max_versions() -> None:
    full = meta(current=3, oldest=1, maximum=3)
    assert destroyed_by_write(full, [1, 2, 3]) == [1]  # version 4 pushes out 1
    assert destroyed_by_write(full, [2, 3]) == []
    assert destroyed_by_write(meta(current=2, oldest=1, maximum=3), [1]) == []  # room for 3
    lowered = meta(current=5, oldest=1, maximum=2)  # max_versions lowered: 1..4 go at once
    assert destroyed_by_write(lowered, [1, 3, 5]) == [1, 3]
    # a version already destroyed (or before oldest) is not this write's loss
    assert destroyed_by_write(meta(current=4, oldest=2, maximum=3, v2=(False, True)), [1, 2]) == []


def test_kv_states_name_lost_and_next_in_line() -> None:
    m = meta(current=4, oldest=2, maximum=3, v3=(True, False))
    states = kv_states(m, [1, 2, 3, 4, 9])
    assert [(s.version, s.lost) for s in states] == [
        ("1", True),  # before oldest: destroyed
        ("2", False),  # the next write destroys it
        ("3", True),  # deleted
        ("9", True),  # missing
    ]
    assert states[0].why == "destroyed" and states[3].why == "missing"
    assert [s.why for s in kv_states(None, [1])] == ["missing"]  # the key is gone


def test_label_moves_add_the_kept_and_remove_the_rest() -> None:
    a, b, c = "a" * 36, "b" * 36, "c" * 36
    listing = {a: ["AWSCURRENT"], b: [label_of(b), "AWSPREVIOUS"], c: [label_of(c)]}
    add, remove = label_moves(listing, {a, b, "gone"})
    assert add == [a]  # b has it already; a lost version is never labelled
    assert remove == [(label_of(c), c)]
    assert label_moves({a: [label_of(a)]}, {a}) == ([], [])


def test_aws_states_missing_and_unlabelled() -> None:
    a, b = "a" * 36, "b" * 36
    states = aws_states({a: [], b: [label_of(b)]}, {a, b, "x" * 36})
    assert [(s.version, s.lost) for s in states] == [(a, False), ("x" * 36, True)]
    assert "no label at all" in states[0].why
    assert [s.lost for s in aws_states(None, {a})] == [True]


def test_findings_and_refusal_name_the_entry_version_and_fix() -> None:
    where = "openbao:secret/titan/api_token"
    lost, risk = pin_findings(
        where, "api_token", [PinState("1", "destroyed", True), PinState("2", "next", False)]
    )
    assert (lost.code, lost.severity, risk.code, risk.severity) == (
        "B007",
        "error",
        "B008",
        "warning",
    )
    line = refusal(where, [1], 3)
    assert line.startswith(f"{where}: this write would destroy version 1")
    assert (
        "max_versions 3" in line
        and "bao kv metadata put -max-versions=N secret/titan/api_token" in line
    )
    assert "\n" not in line
