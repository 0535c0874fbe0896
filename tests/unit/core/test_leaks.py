"""Leak patterns (titan_deploy.core.leaks): every encoding and alignment, overlaps, safe reprs."""

from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
import sys
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pemkit import cert_block, ed25519_pem, rsa_like_pem
from titan_deploy.core import matchers
from titan_deploy.core.leaks import (
    ENCODINGS,
    MIN_SECRET_LENGTH,
    b64_aligned,
    build_patterns,
    encodings_of,
    group_by_secret,
    hits_in_line,
    search_context,
)
from titan_deploy.core.matchers import make_matcher
from titan_deploy.core.secretvalue import secret_lines, weakness

BACKENDS = ["hyperscan", "ahocorasick_rs", "re"]  # runtime dependencies (hyperscan: x86_64)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def canary(n: int = 24) -> bytes:
    """A random value with URL- and JSON-special characters, so every encoding differs from raw."""
    return pysecrets.token_urlsafe(n).encode() + b'/+"\\=?'


# Bytes 0xff make the base64 of the value contain '/' (and '_' in the URL-safe alphabet) at every
# alignment, so both alphabets give distinct patterns. Fixed, not random: for about 4% of random
# ends the run of 0xff made one alignment's pattern occur inside another alignment's encoding,
# so the line's one hit for the secret named that other alignment (still a hit: the leak was
# found) and the label assertion below failed.
B64_VALUE = bytes.fromhex("3a91c4d27be5") + b"\xff" * 9 + bytes.fromhex("5e08b7f3926d")


def test_every_encoding_of_a_value_is_found_alone_on_a_line(backend: str) -> None:
    value = canary()
    ps = build_patterns({"api": [value]}, backend=backend)
    forms = {
        "raw": value,
        "url": quote(value, safe="").encode(),
        "hex": value.hex().encode(),
        "HEX": value.hex().upper().encode(),
        "json": json.dumps(value.decode())[1:-1].encode(),
        "base64@0": base64.b64encode(value),
    }
    for encoding, form in forms.items():
        line = b"2026-11-28T10:00:00Z level=info msg=" + form + b" done"
        assert ("api", encoding) in hits_in_line(line, ps), encoding


@pytest.mark.parametrize("alphabet", ["base64", "base64url"])
@pytest.mark.parametrize("prefix_len", range(9))
def test_value_inside_a_longer_base64_blob_is_found_at_its_alignment(
    backend: str, alphabet: str, prefix_len: int
) -> None:
    ps = build_patterns({"hmac": [B64_VALUE]}, backend=backend)
    altchars = None if alphabet == "base64" else b"-_"
    blob = base64.b64encode(os.urandom(prefix_len) + B64_VALUE + os.urandom(5), altchars)
    hits = hits_in_line(b"payload=" + blob, ps)
    assert ("hmac", f"{alphabet}@{prefix_len % 3}") in hits


@settings(max_examples=300)
@given(
    value=st.binary(min_size=1, max_size=64),
    prefix=st.binary(max_size=10),
    suffix=st.binary(max_size=10),
    urlsafe=st.booleans(),
)
def test_aligned_base64_form_occurs_in_any_blob_holding_the_value(
    value: bytes, prefix: bytes, suffix: bytes, urlsafe: bool
) -> None:
    altchars = b"-_" if urlsafe else None
    blob = base64.b64encode(prefix + value + suffix, altchars)
    assert b64_aligned(value, len(prefix) % 3, altchars) in blob


def test_aligned_base64_form_strips_filler_and_tail_characters() -> None:
    # "\0abc" -> "AGFiYw==": chars 0-1 hold filler bits, char 5 mixes in the zero padding.
    assert b64_aligned(b"abc", 0) == b"YWJj"
    assert b64_aligned(b"abc", 1) == b64_aligned(b"abc", 1, b"-_") == b"FiY"
    assert b64_aligned(b"abcdefgh", 2) == base64.b64encode(b"\0\0abcdefgh")[3:13]


def test_patterns_are_unique_and_map_back_to_every_origin() -> None:
    shared = canary()
    ps = build_patterns({"a": [shared, canary()], "b": [shared, shared + b"\n"]})
    assert len(set(ps.patterns)) == len(ps.patterns)
    assert ps.origins[shared] == (("a", "raw"), ("b", "raw"))
    assert {enc for origins in ps.origins.values() for _, enc in origins} <= set(ENCODINGS)


def test_an_encoding_equal_to_an_earlier_form_is_not_repeated() -> None:
    forms = dict(encodings_of(b"plainalnum12345"))
    assert "url" not in forms  # quote() leaves it unchanged: it is the raw pattern
    assert "json" not in forms
    assert len(set(forms.values())) == len(forms)


def test_json_forms_cover_ascii_escapes_and_utf8() -> None:
    value = 'pässwörd"\\12'.encode()
    forms = [p for enc, p in encodings_of(value) if enc == "json"]
    assert forms == [b'p\\u00e4ssw\\u00f6rd\\"\\\\12', 'pässwörd\\"\\\\12'.encode()]
    assert "json" not in dict(encodings_of(b"\xff\xfe not utf-8 at all"))


def test_short_values_are_skipped_by_name_and_not_searched() -> None:
    ps = build_patterns({"pin": [b"1234"], "pad": [b"  abc\n"], "rot": [b"short", canary()]})
    assert ps.skipped == ("pad", "pin", "rot")
    assert ps.secrets == ("rot",)
    assert hits_in_line(b"1234 abc short", ps) == []
    assert build_patterns({"exact": [b"x" * MIN_SECRET_LENGTH]}).skipped == ()


def test_raw_form_with_a_newline_is_left_out_but_its_encodings_are_searched(backend: str) -> None:
    value = b"first-line\nsecond-line"
    ps = build_patterns({"pem": [value]}, backend=backend)
    assert value not in ps.patterns
    assert hits_in_line(b"x " + value.hex().encode(), ps) == [("pem", "hex")]


def test_overlapping_patterns_are_all_reported(backend: str) -> None:
    inner = b"inner-secret-42"
    outer = b"xx" + inner + b"yy"
    left, right = b"AAAAAAAA" + b"shared12", b"shared12" + b"BBBBBBBB"
    ps = build_patterns(
        {"inner": [inner], "outer": [outer], "left": [left], "right": [right]}, backend=backend
    )
    assert hits_in_line(b"v=" + outer, ps) == [("inner", "raw"), ("outer", "raw")]
    assert hits_in_line(b"AAAAAAAAshared12BBBBBBBB", ps) == [("left", "raw"), ("right", "raw")]


def test_hex_lower_and_upper_on_one_line_are_both_reported(backend: str) -> None:
    value = b"\xab\xcd" + os.urandom(8)
    ps = build_patterns({"k": [value]}, backend=backend)
    line = b"lower=" + value.hex().encode() + b" upper=" + value.hex().upper().encode()
    assert hits_in_line(line, ps) == [("k", "HEX"), ("k", "hex")]


@settings(max_examples=200)
@given(
    value=st.binary(min_size=MIN_SECRET_LENGTH, max_size=80).filter(
        lambda v: b"\n" not in v and v == v.strip() and weakness(v) is None
    ),
    before=st.binary(max_size=200),
    after=st.binary(max_size=200),
)
def test_raw_value_is_found_whatever_surrounds_it(
    value: bytes, before: bytes, after: bytes
) -> None:
    ps = build_patterns({"s": [value]}, backend="re")
    assert ("s", "raw") in hits_in_line(before + value + after, ps)


# No pattern can occur in text made only of these bytes: every form of a letters-only value
# (raw, base64, hex, url, json) contains a letter or a digit.
PUNCTUATION = b" !#$&'()*,.:;<=>?@[]^`{|}~"


@settings(max_examples=200)
@given(
    value=st.text("abcdefghijklmnopqrstuvwxyz", min_size=16, max_size=40),
    noise=st.lists(st.sampled_from(list(PUNCTUATION)), max_size=500),
)
def test_no_hit_on_text_that_cannot_hold_any_form(value: str, noise: list[int]) -> None:
    ps = build_patterns({"s": [value.encode()]}, backend="re")
    assert hits_in_line(bytes(noise), ps) == []


def test_unknown_backend_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="nope"):
        make_matcher([b"abcdefgh"], "nope")


def test_no_patterns_no_hits(backend: str) -> None:
    ps = build_patterns({}, backend=backend)
    assert ps.patterns == ()
    assert hits_in_line(b"anything at all", ps) == []


def test_reprs_show_counts_never_a_value_or_a_pattern(backend: str) -> None:
    value = canary()
    ps = build_patterns({"titan_hmac_secret": [value], "pin": [b"1234"]}, backend=backend)
    texts = [repr(ps), str(ps), repr(ps.matcher), str(ps.matcher)]
    assert "patterns=" in texts[0]
    for text in texts:
        for pattern in (*ps.patterns, b"1234"):
            assert pattern.decode("latin-1") not in text


def test_hyperscan_is_the_default_matcher_where_it_installs() -> None:
    assert build_patterns({"k": [canary()]}).matcher.backend == "hyperscan"


def test_the_default_matcher_compiles_hyperscan_only_for_big_buffers() -> None:
    """verify scans small texts: they never pay for a Hyperscan database; a big buffer (or
    `ready_for`, before a scan forks) builds it once; both tiers find the same."""
    value = canary()
    matcher = build_patterns({"k": [value]}).matcher
    assert isinstance(matcher, matchers.TieredMatcher)
    small = b"x [MASKED] " + value + b"\n"
    assert matcher.scan(small) == (
        [small.index(value)],
        [small.index(b"\n")],
    )
    assert matcher._large is None
    big = b"." * matchers.TieredMatcher.LARGE + small
    assert matcher.scan(big) == ([big.index(value)], [len(big) - 1])
    assert isinstance(matcher._large, matchers.HyperscanMatcher)
    fresh = build_patterns({"k": [value]}).matcher
    fresh.ready_for(1 << 30)
    assert isinstance(fresh._large, matchers.HyperscanMatcher)


def test_without_hyperscan_ahocorasick_rs_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperscan", None)  # makes the import fail
    ps = build_patterns({"k": [canary()]})
    assert ps.matcher.backend == "ahocorasick_rs"
    assert hits_in_line(ps.patterns[0], ps)


def test_without_ahocorasick_rs_the_stdlib_regex_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hyperscan", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "ahocorasick_rs", None)
    ps = build_patterns({"k": [canary()]})
    assert ps.matcher.backend == "re"
    assert hits_in_line(ps.patterns[0], ps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_block_scan_finds_candidates_and_each_masked_line_once(backend: str) -> None:
    """Matcher.scan: a candidate at the first occurrence of a value (the line re-check finds the
    rest), and the end of every line holding MASK_MARKER, once however many it holds, also
    where a marker overlaps a value and on a last line without a newline."""
    value = canary()
    ps = build_patterns({"k": [value]}, backend=backend)
    lines = [b"a [MASKED] " + value + b" [MASKED][MASKED]", value.hex().encode(), b"[MASKED]"]
    buf = b"\n".join(lines)
    starts, ends = ps.matcher.scan(memoryview(buf))
    assert ends == [len(lines[0]), len(buf)]
    assert starts and starts[0] == buf.index(value)
    assert starts == sorted(starts)


def test_a_matcher_failure_names_counts_not_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    value = canary()

    def explode(self: object, patterns: list[bytes]) -> None:
        raise ValueError(f"bad pattern {patterns[0]!r}")

    monkeypatch.setattr(matchers.RegexMatcher, "__init__", explode)
    with pytest.raises(ValueError) as caught:
        build_patterns({"k": [value]}, backend="re")
    assert "patterns" in str(caught.value)
    assert value.decode() not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- weak values: whole tokens only (issue 8, class 11) -----------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"nextcloud",
        b"password=nextcloud",
        b'{"password": "nextcloud"}',
        b"login nextcloud.",
        b"user nextcloud logged in",
        b"pass:nextcloud@db",
    ],
)
def test_a_weak_value_is_found_as_a_whole_token(backend: str, line: bytes) -> None:
    ps = build_patterns({"pw": [b"nextcloud"]}, backend=backend)
    assert ps.weak == ("pw",)
    assert ("pw", "raw") in hits_in_line(line, ps)


@pytest.mark.parametrize(
    "line",
    [
        b"image nextcloud-fpm:27",  # part of an image name
        b"container mynextcloud_1",
        b"com.docker.compose.project=nextcloud2",
        b"/var/www/nextcloudapps/x",
    ],
)
def test_a_weak_value_inside_a_longer_word_is_not_a_hit(backend: str, line: bytes) -> None:
    ps = build_patterns({"pw": [b"nextcloud"]}, backend=backend)
    assert hits_in_line(line, ps) == []


def test_a_strong_value_is_still_found_inside_anything(backend: str) -> None:
    value = canary()
    ps = build_patterns({"k": [value]}, backend=backend)
    assert ps.weak == ()
    assert ("k", "raw") in hits_in_line(b"xx" + value + b"yy", ps)


def test_the_weak_and_strong_forms_of_one_pattern_count_as_strong(backend: str) -> None:
    """Two secrets share bytes; one is weak (equal to a name), the other is not: a substring hit."""
    context = search_context(["k"], ["Zq3vN8wLr2Tb6YhK"])
    ps = build_patterns({"k": [b"Zq3vN8wLr2Tb6YhK"], "j": [b"Zq3vN8wLr2Tb6YhK"]}, context=context)
    assert ps.weak == ("j", "k")  # both: equal to the service name
    ps = build_patterns({"k": [b"Zq3vN8wLr2Tb6YhK"]}, backend=backend)
    assert hits_in_line(b"aZq3vN8wLr2Tb6YhKa", ps) == [("k", "raw")]


# --- the tool's own strings are never a leak -----------------------------------------------------


def titan_context(**kw):
    defaults = dict(
        secrets=["grafana_admin_password", "titan_db_password"],
        services=["grafana", "titan-brain"],
        projects=["nextcloud"],
        paths=["secrets", "./secrets", "/srv/titan/secrets"],
    )
    defaults.update(kw)
    return search_context(**defaults)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (
            b"grafana_admin_password",
            b"GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password",
        ),
        (b"grafana_admin_password", b"mounted grafana_admin_password"),
        (b"nextcloud", b"label com.docker.compose.project=nextcloud"),
        (b"titan-brain", b"container nextcloud-titan-brain-1 started"),
        (b"/srv/titan/secrets", b"bind /srv/titan/secrets/titan_db_password"),
        (b"secrets", b"source ./secrets/titan_db_password"),
        (b"titan_db_password", b"/run/secrets/titan_db_password.previous"),
    ],
)
def test_a_value_never_matches_the_tools_own_strings(
    backend: str, value: bytes, line: bytes
) -> None:
    ps = build_patterns({"s": [value]}, backend=backend, context=titan_context())
    assert hits_in_line(line, ps) == []


def test_outside_the_tools_strings_the_same_value_is_found(backend: str) -> None:
    ps = build_patterns({"s": [b"nextcloud"]}, backend=backend, context=titan_context())
    assert hits_in_line(b"project nextcloud password nextcloud", ps) == []  # both excluded
    assert hits_in_line(b"password=nextcloud", ps) == []  # `nextcloud` is the project name
    ps = build_patterns({"s": [b"grafana-pass"]}, backend=backend, context=titan_context())
    assert hits_in_line(b"/run/secrets/grafana_admin_password pw=grafana-pass", ps) == [
        ("s", "raw")
    ]


def test_a_strong_value_is_not_hidden_by_an_exclusion_next_to_it(backend: str) -> None:
    value = canary()
    ps = build_patterns({"s": [value]}, backend=backend, context=titan_context())
    line = b"/run/secrets/titan_db_password" + value + b"/srv/titan/secrets"
    assert hits_in_line(line, ps) == [("s", "raw")]


def test_search_context_names_and_exclusions() -> None:
    ctx = search_context(["a.vault"], ["app"], ["proj", ""], ["secrets"])
    assert ctx.names == ("a.vault", "app", "proj")
    assert set(ctx.exclusions) == {
        b"a.vault",
        b"app",
        b"proj",
        b"secrets",
        b"/run/secrets/a.vault",
        b"/run/secrets/a.vault.previous",
    }


# --- multi-line values: line by line (class 9) ---------------------------------------------------


def test_a_pem_key_is_searched_line_by_line(backend: str) -> None:
    key = rsa_like_pem()
    ps = build_patterns({"key": [key]}, backend=backend)
    body = key.strip().split(b"\n")[1:-1]
    for line in body[:-1]:  # full 64-character lines
        assert ("key", "raw") in hits_in_line(b"ERROR bad key " + line + b" (parse)", ps)
    assert b"-----BEGIN RSA PRIVATE KEY-----" not in ps.patterns
    assert hits_in_line(b"-----BEGIN RSA PRIVATE KEY-----", ps) == []
    assert hits_in_line(b"-----END RSA PRIVATE KEY-----", ps) == []
    # the whole file base64-encoded (a dumped manifest, an env var) is found too
    assert ("key", "base64@0") in hits_in_line(base64.b64encode(key.strip()), ps)


def test_an_ed25519_key_line_is_one_pattern_the_armour_none(backend: str) -> None:
    key = ed25519_pem()
    assert secret_lines(key.strip()) == [key.split(b"\n")[1]]
    ps = build_patterns({"key": [key]}, backend=backend)
    assert ps.skipped == ()
    assert ("key", "raw") in hits_in_line(b"k=" + key.split(b"\n")[1], ps)


def test_certificate_lines_next_to_a_key_are_not_searched(backend: str) -> None:
    cert = cert_block()
    key = ed25519_pem()
    ps = build_patterns({"tls": [cert + b"\n" + key]}, backend=backend)
    for line in cert.split(b"\n")[1:-1]:
        assert hits_in_line(line, ps) == []
    assert ("tls", "raw") in hits_in_line(key.split(b"\n")[1], ps)


def test_only_public_blocks_means_nothing_to_search(backend: str) -> None:
    ps = build_patterns({"ca": [cert_block() + b"\n"]}, backend=backend)
    assert ps.skipped == ("ca",)
    assert ps.patterns == tuple(sorted(ps.patterns))


def test_multiline_text_long_lines_are_searched_short_ones_not(backend: str) -> None:
    strong = pysecrets.token_urlsafe(24).encode()
    value = b"[client]\nuser = nextcloud\npassword = " + strong + b"\nhost=db\n"
    assert secret_lines(value.strip()) == [
        b"[client]",
        b"user = nextcloud",
        b"password = " + strong,
        b"host=db",
    ]
    ps = build_patterns({"conf": [value]}, backend=backend)
    assert ("conf", "raw") in hits_in_line(b"dump: password = " + strong + b" end", ps)
    assert ("conf", "raw") in hits_in_line(b"config user = nextcloud;", ps)
    assert hits_in_line(b"[client]", ps) == []  # shorter than MIN_LINE_LENGTH
    assert hits_in_line(b"host=db", ps) == []
    assert ps.skipped == ()


def test_a_weak_line_of_a_multiline_value_is_a_whole_token(backend: str) -> None:
    value = b"first line of it\naaaaabbbbbaaaaabbbbb\n"  # 20 chars, 2 distinct: weak
    ps = build_patterns({"conf": [value]}, backend=backend)
    assert ps.weak == ("conf",)
    assert hits_in_line(b"x aaaaabbbbbaaaaabbbbb y", ps) == [("conf", "raw")]
    assert hits_in_line(b"xaaaaabbbbbaaaaabbbbby", ps) == []


def test_group_by_secret_uses_the_manifests_names() -> None:
    values = {
        "app.vault_token": b"1",
        "app.vault_token.v3": b"2",
        "app": b"3",
        "app.v2": b"4",
        "stray.v1": b"5",
    }
    assert group_by_secret(values, {"app", "app.vault_token"}) == {
        "app.vault_token": [b"1", b"2"],
        "app": [b"3", b"4"],
        "stray.v1": [b"5"],
    }
