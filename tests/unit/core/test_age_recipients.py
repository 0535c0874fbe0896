"""An age recipient in the manifest is checked when the manifest loads (core/backup.py
`is_age_recipient`: alphabet, length, bech32 checksum), and the pure check agrees with age itself
(pyrage, the Rust library `backup` encrypts with) on every string of that shape: real keys, keys
with one character changed, and any payload under a valid checksum (padding bits included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrage import x25519

from titan_deploy.core import manifest as m
from titan_deploy.core.backup import _BECH32, _hrp_expand, _polymod, is_age_recipient
from titan_deploy.errors import ConfigError

REAL = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def pyrage_accepts(text: str) -> bool:
    try:
        x25519.Recipient.from_str(text)
    except Exception:
        return False
    return True


def with_checksum(data: list[int]) -> str:
    """`age1` + the 5-bit `data` + the checksum that makes it valid bech32."""
    polymod = _polymod([*_hrp_expand("age"), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "age1" + "".join(_BECH32[v] for v in [*data, *checksum])


def test_real_keys_pass() -> None:
    assert is_age_recipient(REAL) and pyrage_accepts(REAL)
    for _ in range(50):
        key = str(x25519.Identity.generate().to_public())
        assert is_age_recipient(key), key


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=4, max_value=len(REAL) - 1),
    char=st.sampled_from(_BECH32),
    seed=st.integers(min_value=0, max_value=3),
)
def test_one_changed_character_agrees_with_age(position: int, char: str, seed: int) -> None:
    keys = [REAL, *(str(x25519.Identity.generate().to_public()) for _ in range(seed))]
    key = keys[-1]
    changed = key[:position] + char + key[position + 1 :]
    assert is_age_recipient(changed) == pyrage_accepts(changed), changed
    if changed != key:
        assert not is_age_recipient(changed)  # bech32 catches every one-character change


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.integers(min_value=0, max_value=31), min_size=52, max_size=52))
def test_a_valid_checksum_over_any_payload_agrees_with_age(data: list[int]) -> None:
    """Any 52 data characters under a valid checksum, nonzero padding bits too (the last
    character's low 4 bits): age accepts such a key, and so does the manifest."""
    text = with_checksum(data)
    assert is_age_recipient(text) == pyrage_accepts(text) is True, text


@pytest.mark.parametrize(
    "bad",
    [
        REAL[:-1] + ("q" if REAL[-1] != "q" else "p"),  # the checksum's last character
        REAL[:10] + REAL[11] + REAL[10] + REAL[12:],  # two characters swapped
        "age1" + "q" * 58,  # the alphabet and the length, no checksum
    ],
)
def test_the_manifest_refuses_a_broken_recipient_at_load(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "secrets.manifest.yml"
    path.write_text(
        "version: 1\nsecrets:\n  k:\n    kind: text\nbackup:\n  recipients:\n"
        f"    - {REAL}\n    - {bad}\n"
    )
    with pytest.raises(ConfigError) as caught:
        m.load_manifest(path, "secrets.manifest.yml")
    assert str(caught.value).startswith("secrets.manifest.yml:8: backup.recipients[1]: ")
    assert "bech32 checksum" in str(caught.value)
    assert bad not in str(caught.value)
