"""core.redact: every form a value can take in an error, and any long piece of one, is redacted.

The forms are produced here by independent encoders (json, PyYAML's emitter, urllib, binascii,
base64 inside a longer blob, backslash doubling, Go's %q as compose prints it) and embedded in
error-like text; the scrubbed text must hold no piece of FRAGMENT characters of the form.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from urllib.parse import quote, quote_plus

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from titan_deploy.core import redact as redact_module
from titan_deploy.core.redact import (
    FRAGMENT,
    MARK,
    Redactor,
    _public_piece,
    go_quote,
    redact,
    remember,
)

NASTY = "\\\"'$${}%+/=:#\t €ü😀\u2028\x01"
values = st.text(
    alphabet=st.one_of(
        st.sampled_from(NASTY),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(string.ascii_letters + string.digits),
    ),
    min_size=8,
    max_size=40,
).filter(
    lambda v: (
        v == v.strip()
        and v.encode() == v.encode().strip()
        and len(v.encode()) >= 8
        and "REDACTED" not in v
    )
)


def pieces(form: str, size: int = FRAGMENT) -> set[str]:
    size = min(size, len(form) - 1)
    return {form[i : i + size] for i in range(len(form) - size + 1)}


def leftovers(text: str, form: str, multiline: bool = False) -> set[str]:
    """Pieces of `form` left in `text` (of a multi-line value, its public words may stay)."""
    found = {piece for piece in pieces(form) if piece in text}
    return {p for p in found if not (multiline and _public_piece(p))}


def independent_forms(value: str) -> dict[str, str]:
    raw = value.encode()
    blob = base64.b64encode(os.urandom(7) + raw + os.urandom(4)).decode()
    dumped = yaml.dump(value, default_style='"', allow_unicode=True, width=1 << 30).strip()
    return {
        "raw": value,
        "backslash-doubled": value.replace("\\", "\\\\"),
        "json": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "yaml": dumped.removesuffix("...").strip()[1:-1],
        "yaml-single": value.replace("'", "''"),
        "url": quote(raw, safe=""),
        "url-plus": quote_plus(raw),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base64-in-blob": blob,  # the value's aligned piece sits inside a longer blob
        "repr": repr(value)[1:-1],
        "dollar-doubled": value.replace("$", "$$"),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(value=values)
def test_every_form_of_a_value_is_redacted(value: str) -> None:
    scrub = Redactor([value.encode() + b"\n"])
    for name, form in independent_forms(value).items():
        text = f"validating x.yml: additional properties '{form}' not allowed\nnext line"
        out = scrub(text)
        if name == "base64-in-blob":  # 7 bytes before it: the value starts 1 byte into a group
            core = base64.b64encode(bytes(1) + value.encode()).decode()[4:-4]
            assert len(core) <= FRAGMENT or not leftovers(out, core), (name, out)
            continue
        textual = "\n" in value and not name.startswith(("hex", "HEX", "base64"))
        assert not leftovers(out, form, textual), (name, out)
        assert out.endswith("next line") and MARK in out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(value=values, data=st.data())
def test_any_long_piece_of_a_value_is_redacted(value: str, data) -> None:
    start = data.draw(st.integers(0, len(value) - FRAGMENT))
    end = data.draw(st.integers(start + FRAGMENT, len(value)))
    piece = value[start:end]
    assume(not ("\n" in value and _public_piece(piece)))
    # the message's own words must not be a piece of the value (`0ndefine` is in "undefined")
    assume(not any(p in "found undefined alias" for p in pieces(value, FRAGMENT - 1)))
    out = redact(f"found undefined alias '{piece}'", [value.encode()])
    assert piece not in out
    assert out.startswith("found undefined alias") and MARK in out


def test_a_value_minus_its_first_character_is_caught() -> None:
    value = "*" + secrets.token_urlsafe(18)
    out = redact(f"yaml: unknown anchor '{value[1:]}' referenced", [value.encode()])
    assert value[1:] not in out and out == f"yaml: unknown anchor '{MARK}' referenced"
    short = b"Ab3$xY9!"  # 8 characters: a piece of 7 is enough
    assert "b3$xY9!" not in redact("alias 'b3$xY9!'", [short])


def test_compose_quotes_a_backslash_doubled() -> None:
    value = 'Ab\\cd"ef$$gh€ij\\klmnop'
    line = "services.postgres additional properties 'Ab\\\\cd\"ef$$gh€ij\\\\klmnop' not allowed"
    assert (
        redact(line, [value.encode()])
        == f"services.postgres additional properties '{MARK}' not allowed"
    )


def test_go_quote_is_go_strconv_quote() -> None:
    assert go_quote(b'a"b\\c\x01\n\xff\xe2\x82\xac\xc2\xa0') == 'a\\"b\\\\c\\x01\\n\\xff€\\u00a0'
    assert go_quote("€😀".encode(), ascii_only=True) == "\\u20ac\\U0001f600"


def test_short_values_and_other_text_are_left_alone() -> None:
    out = redact("secrets/titan_db_password is mode 0644 (abc)", [b"abc", b"   ", b"1234567"])
    assert out == "secrets/titan_db_password is mode 0644 (abc)"


def test_spans_merge_into_one_mark() -> None:
    a, b = b"Zq3vN8wLr2Tb6YhK", b"Pm4xC7sQe1Ua9RjD"
    out = redact(f"x {a.decode()}{b.decode()} y {a.decode()[3:]}", [a, b])
    assert out == f"x {MARK} y {MARK}"


def test_a_value_beyond_the_piece_budget_is_still_redacted_whole(monkeypatch) -> None:
    monkeypatch.setattr(redact_module, "MAX_PIECES", 10)
    value = secrets.token_urlsafe(40).encode()
    scrub = Redactor([value])
    assert "pieces=0" in repr(scrub) and value.decode() not in repr(scrub)
    text = f"a {value.decode()} b {base64.b64encode(value).decode()} c {value.hex()}"
    assert scrub(text) == f"a {MARK} b {MARK} c {MARK}"


def test_remembered_values_are_scrubbed_by_redactors_built_before(monkeypatch) -> None:
    monkeypatch.setattr(redact_module, "_remembered", [])
    scrub = Redactor([])
    value = secrets.token_urlsafe(24)
    assert scrub(f"got {value}") == f"got {value}"
    remember([value.encode()])
    assert scrub(f"got {value}") == f"got {MARK}"
    assert redact(f"got {value}", []) == f"got {MARK}"


def test_data_scrubs_every_string() -> None:
    value = secrets.token_hex(16)
    scrub = Redactor([value.encode()])
    doc = {"error": f"x {value}", "rows": [{"note": value, "n": 3}], "ok": False}
    assert scrub.data(doc) == {"error": f"x {MARK}", "rows": [{"note": MARK, "n": 3}], "ok": False}
