"""check_store (README "What `check-secrets` checks"): one test per check, plus what `--fix` may
and may not touch."""

from __future__ import annotations

import base64
import os
import random
import secrets as pyrandom
import shutil
import stat
import string
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require
from tests.paths import REPO
from tests.pemkit import ED25519_PREFIX, block, cert_block, ed25519_pem, openssl_key, rsa_like_pem
from titan_deploy.core.checks import Fix, GitFacts, check_store
from titan_deploy.core.manifest import Manifest, parse_manifest_text
from titan_deploy.io import fs, gitfiles
from titan_deploy.ops.check import run_check
from titan_deploy.project import Project

GID = 10500  # the tests run as root (CI too); chgrp to any gid works
OTHER_GID = 10501

BASE = """\
version: 1
{extra}
secrets:
  db_password:
    kind: password
    min_length: 24
    consumers: {{db: DB_PASSWORD_FILE}}
  hmac:
    kind: hex
    bytes: 32
    consumers: {{app: HMAC_FILE}}
  api_key:
    kind: api-key
    consumers: {{app: API_KEY_FILE}}
"""

GOOD = {
    "db_password": b"Zq3vN8wLr2Tb6YhKp0Xc4Mf9",  # 24 chars
    "hmac": b"0123456789abcdef" * 4,
    "api_key": b"AbCdEfGh1234567890",
}


def manifest(extra: str = "", text: str | None = None) -> Manifest:
    return parse_manifest_text(text or BASE.format(extra=extra))


def make_store(root: Path, values: dict[str, bytes], gid: int | None = None) -> Path:
    store = root / "secrets"
    store.mkdir(mode=0o700)
    os.chmod(store, 0o750 if gid is not None else 0o700)
    if gid is not None:
        os.chown(store, -1, gid)
    for name, value in values.items():
        path = store / name
        path.write_bytes(value)
        os.chmod(path, 0o640 if gid is not None else 0o600)
        if gid is not None:
            os.chown(path, -1, gid)
    return store


ED25519_PEM = ed25519_pem()


def codes(result, secret: str | None = None) -> list[str]:
    return sorted(f.code for f in result.findings if secret is None or f.secret == secret)


def one_value(name: str, kind: str = "api-key", extra: str = "") -> str:
    """A manifest with one secret `name` consumed by service `app`."""
    head = f"version: 1\nsecrets:\n  {name}:\n    kind: {kind}\n"
    return head + extra + "    consumers: {app: X_FILE}\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path, GOOD)


def test_a_good_store_has_no_findings(store: Path) -> None:
    result = check_store(manifest(), store)
    assert result.findings == []
    assert result.fixes == []
    assert set(result.values) == set(GOOD)


def test_repr_of_a_result_shows_no_value(store: Path) -> None:
    result = check_store(manifest(), store)
    assert repr(result) == "CheckResult(findings=0, fixes=0)"


# --- existence and file type -------------------------------------------------------------------


def test_missing_secrets_dir(tmp_path: Path) -> None:
    result = check_store(manifest(), tmp_path / "nope")
    assert [(f.code, f.severity) for f in result.findings] == [("S001", "error")]
    assert result.findings[0].fix == "titan-deploy init"


def test_missing_secret(store: Path, tmp_path: Path) -> None:
    (store / "api_key").unlink()
    examples = tmp_path / "secrets.example"
    examples.mkdir()
    (examples / "README.md").write_text("what to write where\n")
    result = check_store(manifest(), store, example_dir=examples)
    assert codes(result) == ["S001"]
    finding = result.findings[0]
    assert finding.secret == "api_key"
    assert finding.message == "secrets/api_key is missing"
    assert finding.fix == "write the value into secrets/api_key (see secrets.example/README.md)"


def test_hints_name_the_configured_dirs_not_the_defaults(tmp_path: Path) -> None:
    """A manifest with its own secrets_dir and example_dir: every hint names those."""
    root = tmp_path / "proj"
    root.mkdir()
    text = BASE.format(extra="secrets_dir: vault/live\nexample_dir: docs/examples")
    (root / "secrets.manifest.yml").write_text(text)
    (root / "docs" / "examples").mkdir(parents=True)
    (root / "docs" / "examples" / "README.md").write_text("what to write\n")
    (root / "vault").mkdir()
    store = make_store(root / "vault", {k: v for k, v in GOOD.items() if k != "api_key"})
    store.rename(root / "vault" / "live")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    report = run_check(Project(project_dir=root))
    hints = {f.code: (f.message, f.fix) for f in report.findings}
    assert hints["S001"] == (
        "vault/live/api_key is missing",
        "write the value into vault/live/api_key (see docs/examples/README.md)",
    )
    assert hints["S012"] == (
        "vault/live/ is not git-ignored",
        "add '/vault/live/' to .gitignore (titan-deploy init does)",
    )
    assert not [f for f in report.findings if "secrets/" in f"{f.message} {f.fix}"]


def test_no_readme_hint_when_the_example_dir_has_none(store: Path, tmp_path: Path) -> None:
    (store / "api_key").unlink()
    empty = tmp_path / "secrets.example"
    empty.mkdir()
    result = check_store(manifest(), store, example_dir=empty)
    assert result.findings[0].fix == "write the value into secrets/api_key"


def test_missing_generatable_secret_points_at_init(tmp_path: Path) -> None:
    text = BASE.format(extra="").replace("kind: password", "kind: password\n    generate: true")
    store = make_store(tmp_path, {k: v for k, v in GOOD.items() if k != "db_password"})
    result = check_store(manifest(text=text), store)
    assert [(f.code, f.fix) for f in result.findings] == [
        ("S001", "titan-deploy init (generates it)")
    ]


def test_directory_instead_of_file_is_not_regular(store: Path) -> None:
    (store / "api_key").unlink()
    (store / "api_key").mkdir()
    result = check_store(manifest(), store)
    assert codes(result) == ["S002"]
    assert result.findings[0].message == "secrets/api_key is not a regular file"


def test_fifo_is_not_regular(store: Path) -> None:
    (store / "api_key").unlink()
    os.mkfifo(store / "api_key", 0o600)
    result = check_store(manifest(), store)
    assert codes(result) == ["S002"]


def test_symlink_leaving_the_dir_is_rejected(store: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_bytes(GOOD["api_key"])
    os.chmod(outside, 0o600)
    (store / "api_key").unlink()
    (store / "api_key").symlink_to(outside)
    result = check_store(manifest(), store)
    assert codes(result) == ["S002"]
    assert result.findings[0].message == "secrets/api_key is a symlink that leaves the secrets dir"
    assert "api_key" not in result.values


def test_relative_symlink_escaping_with_dotdot_is_rejected(store: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(GOOD["api_key"])
    (store / "api_key").unlink()
    (store / "api_key").symlink_to("../elsewhere")
    assert codes(check_store(manifest(), store)) == ["S002"]


def test_dangling_symlink_is_rejected(store: Path) -> None:
    (store / "api_key").unlink()
    (store / "api_key").symlink_to("api_key.v9")
    result = check_store(manifest(), store)
    assert codes(result) == ["S002"]
    assert result.findings[0].message == "secrets/api_key is a dangling symlink"


def test_symlink_inside_the_dir_is_accepted(store: Path) -> None:
    (store / "api_key").rename(store / "api_key.v2")
    (store / "api_key").symlink_to("api_key.v2")
    result = check_store(manifest(), store)
    assert result.findings == []
    assert result.values["api_key"] == GOOD["api_key"]


# --- content -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b" ", b"\n", b"  \t \n", b"\n\n"])
def test_empty_or_whitespace_only(store: Path, content: bytes) -> None:
    (store / "api_key").write_bytes(content)
    result = check_store(manifest(), store)
    assert codes(result) == ["S003"]
    assert result.findings[0].message == "secrets/api_key is empty or whitespace only"


def test_nul_byte(store: Path) -> None:
    (store / "api_key").write_bytes(b"AbCdEfGh\x001234567890")
    result = check_store(manifest(), store)
    assert codes(result) == ["S004"]
    assert result.findings[0].message == "secrets/api_key contains a NUL byte"
    assert "api_key" not in result.values


def test_carriage_return(store: Path) -> None:
    (store / "api_key").write_bytes(GOOD["api_key"] + b"\r\n")
    result = check_store(manifest(), store)
    assert codes(result) == ["S004"]
    assert "carriage return" in result.findings[0].message
    assert result.fixes == []  # a CRLF file is refused, never "fixed"


def test_interior_newline(store: Path) -> None:
    (store / "api_key").write_bytes(b"AbCdEfGh12\n34567890")
    result = check_store(manifest(), store)
    assert codes(result) == ["S004"]
    assert result.findings[0].message == "secrets/api_key has more than one line"
    assert "multiline: true" in (result.findings[0].fix or "")


def test_a_pem_in_a_single_line_secret_points_at_kind_pem(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"key": ED25519_PEM})
    result = check_store(manifest(text=one_value("key", kind="text")), store)
    assert [(f.code, f.fix) for f in result.findings] == [
        ("S004", "keys and certificates: set `kind: pem` in the manifest")
    ]


# Surrounding whitespace: two readers (one trims, one does not) would see two values.
WHITESPACE_AROUND = [b"\n", b"\n\n", b" ", b"\t", b" \n"]
WHITESPACE_BEFORE = [b" ", b"\t", b"\n"]


@pytest.mark.parametrize("kind", ["password", "hex", "token", "api-key"])
@pytest.mark.parametrize(
    ("before", "after"),
    [(b"", a) for a in WHITESPACE_AROUND] + [(b, b"") for b in WHITESPACE_BEFORE],
)
def test_whitespace_around_a_value_is_an_error_with_a_fix(
    tmp_path: Path, kind: str, before: bytes, after: bytes
) -> None:
    value = {"hex": GOOD["hmac"], "password": GOOD["db_password"]}.get(kind, GOOD["api_key"])
    extra = "    bytes: 32\n" if kind == "hex" else ""
    store = make_store(tmp_path, {"s": before + value + after})
    result = check_store(manifest(text=one_value("s", kind=kind, extra=extra)), store)
    assert [(f.code, f.severity) for f in result.findings] == [("S005", "error")]
    assert result.findings[0].message == (
        "secrets/s starts or ends with whitespace (space, tab or newline): services that trim "
        "it and services that do not read two different values"
    )
    assert result.findings[0].fix == "titan-deploy check-secrets --fix (strips it)"
    assert result.fixes == [Fix("strip-whitespace", store / "s")]
    assert result.values["s"] == value  # trimmed, as services read it


@pytest.mark.parametrize("after", WHITESPACE_AROUND)
def test_whitespace_around_text_is_a_warning(tmp_path: Path, after: bytes) -> None:
    store = make_store(tmp_path, {"s": "caf\u00e9 au lait".encode() + after})
    result = check_store(manifest(text=one_value("s", kind="text")), store)
    assert [(f.code, f.severity) for f in result.findings] == [("S005", "warning")]
    assert result.fixes == [Fix("strip-whitespace", store / "s")]


# --- kinds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"ab" * 31, "expected 64 hex characters (32 bytes), found 62"),
        (b"ab" * 33, "expected 64 hex characters (32 bytes), found 66"),
        (b"g" + b"a" * 63, "not hexadecimal (expected the output of `openssl rand -hex N`)"),
        (b"0x" + b"a" * 62, "not hexadecimal (expected the output of `openssl rand -hex N`)"),
        (
            pyrandom.token_urlsafe(48)[:64].encode().replace(b"a", b"-") + b"-",
            "not hexadecimal (expected the output of `openssl rand -hex N`)",
        ),
    ],
    ids=["62", "66", "g", "0x", "random-url-safe"],  # stable ids: xdist workers collect alike
)
def test_hex_of_n_bytes(store: Path, value: bytes, message: str) -> None:
    (store / "hmac").write_bytes(value)
    result = check_store(manifest(), store)
    assert codes(result) == ["S006"]
    assert result.findings[0].message == f"secrets/hmac: hex {message}"


@pytest.mark.parametrize(
    "value", [pyrandom.token_hex(32), pyrandom.token_hex(32).upper()], ids=["lower", "upper"]
)
def test_hex_of_the_right_length_passes(store: Path, value: str) -> None:
    (store / "hmac").write_bytes(value.encode())
    assert check_store(manifest(), store).findings == []


def test_password_min_length(store: Path) -> None:
    (store / "db_password").write_bytes(b"x9" * 11 + b"y")  # 23 < 24
    result = check_store(manifest(), store)
    assert codes(result) == ["S006"]
    assert result.findings[0].message == (
        "secrets/db_password: password too short: 23 characters, at least 24 required"
    )


def test_password_with_whitespace(store: Path) -> None:
    (store / "db_password").write_bytes(b"correct horse battery staple")
    result = check_store(manifest(), store)
    assert codes(result) == ["S006"]
    assert result.findings[0].message == "secrets/db_password: password contains whitespace"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"AbCdEfGh 1234567890", "contains whitespace"),
        (b"AbCdEfGh\t1234567890", "contains whitespace"),
        ("AbCdEfGh\u00e91234567890".encode(), "contains non-printable or non-ASCII characters"),
        (b"AbCdEfGh\x1b1234567890", "contains non-printable or non-ASCII characters"),
        (b"Ab1Cd2E", "too short: 7 characters, at least 8 required"),
        (b"A" * 4097, "too long: 4097 characters, at most 4096 allowed"),
    ],
)
def test_api_key_printable_no_whitespace_and_bounds(
    store: Path, value: bytes, problem: str
) -> None:
    (store / "api_key").write_bytes(value)
    result = check_store(manifest(), store)
    assert codes(result) == ["S006"]
    assert result.findings[0].message == f"secrets/api_key: api-key {problem}"


def test_api_key_pattern(tmp_path: Path) -> None:
    text = one_value("bybit_key", extra="    pattern: '[A-Za-z0-9]{18}'\n")
    store = make_store(tmp_path, {"bybit_key": b"AbCdEfGh1234567890"})
    assert check_store(manifest(text=text), store).findings == []
    (store / "bybit_key").write_bytes(b"AbCdEfGh1234567890X")
    result = check_store(manifest(text=text), store)
    assert codes(result) == ["S006"]
    assert result.findings[0].message == (
        "secrets/bybit_key: api-key does not match the manifest's `pattern`"
    )


_SYS = random.SystemRandom()


def _rand(alphabet: str, n: int) -> str:
    return "".join(pyrandom.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
# Shapes of real exchange and provider keys (random content: none of these is a real key).
REAL_SHAPED = {
    "bybit key (18)": _rand(ALNUM, 18),
    "bybit secret (36)": _rand(ALNUM, 36),
    "binance key (64)": _rand(ALNUM, 64),
    "binance secret (64)": _rand(ALNUM, 64),
    "gemini AIza (39)": "AIza" + _rand(URLSAFE, 35),
    "kraken key (56)": _rand(B64, 56),
    "kraken private key (88)": _rand(B64, 86) + "==",
    "okx key (uuid)": "-".join(_rand(HEX, n) for n in (8, 4, 4, 4, 12)),
    "okx secret (32 HEX)": _rand(HEX.upper(), 32),
    "coinbase key name": "organizations/" + _rand(HEX, 8) + "/apiKeys/" + _rand(HEX, 8),
    "openai-style sk- (51)": "sk-" + _rand(ALNUM, 48),
    "base64url with dashes first": "-" + _rand(URLSAFE, 40),
    "long provider secret (300)": _rand(B64, 300),
    # mixed case, 8 distinct characters: a random 8-character key is weak 1 time in 4 when it is
    # a lower-case word and digits, and an exchange's keys are not
    "8 chars, the lower bound": "".join(
        _SYS.sample(
            _SYS.sample(string.ascii_lowercase + string.digits, 5) + _SYS.sample("ABCDEFGH", 3), 8
        )
    ),
}


@pytest.mark.parametrize("value", list(REAL_SHAPED.values()), ids=list(REAL_SHAPED))
@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_real_shaped_exchange_keys_are_never_rejected(
    tmp_path: Path, value: str, newline: bytes
) -> None:
    """Never rejected for its shape; a trailing newline is the only (fixable) error."""
    store = make_store(tmp_path, {"key": value.encode() + newline})
    result = check_store(manifest(text=one_value("key")), store)
    errors = [f.code for f in result.findings if f.severity == "error"]
    assert errors == (["S005"] if newline else [])
    assert result.values["key"] == value.encode()


def test_token_kind_alphabet(tmp_path: Path) -> None:
    text = one_value("tok", kind="token")
    store = make_store(tmp_path, {"tok": pyrandom.token_urlsafe(32).encode()})
    assert check_store(manifest(text=text), store).findings == []
    (store / "tok").write_bytes(b"a" * 20 + b"!@#")
    result = check_store(manifest(text=text), store)
    assert [f.message for f in result.findings] == [
        "secrets/tok: token contains characters outside a URL-safe token alphabet"
    ]


def test_text_kind_must_be_utf8(tmp_path: Path) -> None:
    text = one_value("blob", kind="text")
    store = make_store(tmp_path, {"blob": "caf\u00e9 ok".encode()})
    assert check_store(manifest(text=text), store).findings == []
    (store / "blob").write_bytes(b"\xff\xfe bad")
    result = check_store(manifest(text=text), store)
    assert [f.message for f in result.findings] == ["secrets/blob: text is not valid UTF-8 text"]


# --- placeholders --------------------------------------------------------------------------------


def test_placeholder_equal_to_the_example_file(store: Path, tmp_path: Path) -> None:
    examples = tmp_path / "secrets.example"
    examples.mkdir()
    shown = b"ExampleOnly0000KeyValue"
    (examples / "api_key").write_bytes(shown + b"\n")
    (store / "api_key").write_bytes(shown)
    result = check_store(manifest(), store, example_dir=examples)
    assert codes(result) == ["S007"]
    assert result.findings[0].message == "secrets/api_key still holds a placeholder"
    # the same value is fine when no example says it is a placeholder
    assert check_store(manifest(), store).findings == []
    # and a real value next to the example is fine
    (store / "api_key").write_bytes(GOOD["api_key"])
    assert check_store(manifest(), store, example_dir=examples).findings == []


@pytest.mark.parametrize(
    "word",
    ["changeme", "CHANGEME", "__CHANGE_ME__", "REPLACE_ME", "your_key", "<your_key>", "xxxxxxxx"],
)
def test_known_placeholder_words(store: Path, word: str) -> None:
    (store / "api_key").write_bytes(word.encode() + b"\n")
    result = check_store(manifest(), store)
    assert "S007" in codes(result)
    assert "S006" not in codes(result)
    assert "api_key" not in result.values


def test_repo_examples_are_all_placeholders(tmp_path: Path) -> None:
    """Every shipped secrets.example file is refused when copied into secrets/ as is."""
    titan = parse_manifest_text((REPO / "secrets.manifest.yml").read_text())
    examples = REPO / "secrets.example"
    secrets = [n for n, spec in titan.secrets.items() if not spec.is_config]  # configs: rendered
    store = make_store(tmp_path, {n: (examples / n).read_bytes() for n in secrets})
    result = check_store(titan, store, example_dir=examples)
    placeholders = {f.secret for f in result.findings if f.code == "S007"}
    assert placeholders == set(secrets)


# --- size ----------------------------------------------------------------------------------------


def test_over_docker_500_kib_limit(tmp_path: Path) -> None:
    """Docker's limit is 500 KiB (swarmkit MaxSecretSize = 500 * 1024, refused when len >= it):
    a 499 KiB text secret and one of 511999 bytes pass; 512000 bytes is "too large"."""
    text = one_value("blob", kind="text")
    store = make_store(tmp_path, {"blob": _rand(ALNUM, 499 * 1024).encode()})
    assert check_store(manifest(text=text), store).findings == []
    (store / "blob").write_bytes(_rand(ALNUM, 511_999).encode())
    assert check_store(manifest(text=text), store).findings == []
    (store / "blob").write_bytes(b"a" * 512_000)
    result = check_store(manifest(text=text), store)
    assert codes(result) == ["S008"]
    assert result.findings[0].message == (
        "secrets/blob is too large (500 KiB): over Docker's 500 KiB secret limit "
        "(at most 511999 bytes)"
    )


# --- permissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700, 0o666])
def test_modes_beyond_owner_are_rejected_without_gid(store: Path, mode: int) -> None:
    os.chmod(store / "api_key", mode)
    result = check_store(manifest(), store)
    assert codes(result) == ["S009"]
    assert result.findings[0].message == (
        f"secrets/api_key is mode {mode:04o}: grants access beyond the owner (expected 0600)"
    )
    assert result.fixes == [Fix("chmod", store / "api_key", mode=0o600)]


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_pass_without_gid(store: Path, mode: int) -> None:
    os.chmod(store / "api_key", mode)
    assert check_store(manifest(), store).findings == []


@pytest.mark.parametrize("mode", [0o640, 0o440])
def test_group_readable_with_secrets_gid_passes(tmp_path: Path, mode: int) -> None:
    store = make_store(tmp_path, GOOD, gid=GID)
    os.chmod(store / "api_key", mode)
    assert check_store(manifest(f"secrets_gid: {GID}"), store).findings == []


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o660, 0o670])
def test_wrong_mode_with_secrets_gid(tmp_path: Path, mode: int) -> None:
    store = make_store(tmp_path, GOOD, gid=GID)
    os.chmod(store / "api_key", mode)
    result = check_store(manifest(f"secrets_gid: {GID}"), store)
    assert codes(result) == ["S009"]
    assert result.findings[0].message == (
        f"secrets/api_key is mode {mode:04o}: must be 0640 or 0440 (expected 0640)"
    )
    assert result.fixes == [Fix("chmod", store / "api_key", mode=0o640)]


def test_wrong_group_with_secrets_gid(tmp_path: Path) -> None:
    store = make_store(tmp_path, GOOD, gid=GID)
    os.chown(store / "api_key", -1, OTHER_GID)
    result = check_store(manifest(f"secrets_gid: {GID}"), store)
    assert codes(result) == ["S010"]
    assert result.findings[0].secret == "api_key"
    assert result.fixes == [Fix("chgrp", store / "api_key", gid=GID)]


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o701])
def test_dir_mode_without_gid(store: Path, mode: int) -> None:
    os.chmod(store, mode)
    result = check_store(manifest(), store)
    assert codes(result) == ["S015"]
    assert result.findings[0].message == f"secrets dir {store} is mode {mode:04o}; expected 0700"
    assert result.fixes == [Fix("chmod", store, mode=0o700)]


def test_dir_mode_with_gid(tmp_path: Path) -> None:
    store = make_store(tmp_path, GOOD, gid=GID)
    m = manifest(f"secrets_gid: {GID}")
    assert check_store(m, store).findings == []
    os.chmod(store, 0o755)
    result = check_store(m, store)
    assert codes(result) == ["S015"]
    assert result.fixes == [Fix("chmod", store, mode=0o750)]
    os.chmod(store, 0o750)
    os.chown(store, -1, OTHER_GID)
    result = check_store(m, store)
    assert codes(result) == ["S016"]
    assert result.fixes == [Fix("chgrp", store, gid=GID)]


# --- git -----------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def git_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    git(project, "init", "-q")
    (project / "secrets.manifest.yml").write_text(BASE.format(extra=""))
    make_store(project, GOOD)
    return project


def test_git_ignored_and_untracked_passes(git_project: Path) -> None:
    (git_project / ".gitignore").write_text("/secrets/\n")
    facts = gitfiles.git_facts(git_project, git_project / "secrets")
    assert facts == GitFacts(in_repo=True, tracked=frozenset(), ignored=True)
    assert check_store(manifest(), git_project / "secrets", git=facts).findings == []


def test_secrets_dir_not_ignored(git_project: Path) -> None:
    facts = gitfiles.git_facts(git_project, git_project / "secrets")
    assert facts.ignored is False
    result = check_store(manifest(), git_project / "secrets", git=facts)
    assert codes(result) == ["S012"]
    assert result.findings[0].message == "secrets/ is not git-ignored"


def test_secret_tracked_by_git(git_project: Path) -> None:
    git(git_project, "add", "secrets/api_key")
    git(git_project, "commit", "-q", "-m", "oops")
    (git_project / ".gitignore").write_text("/secrets/\n")
    facts = gitfiles.git_facts(git_project, git_project / "secrets")
    assert facts.tracked == frozenset({"secrets/api_key"})
    result = check_store(manifest(), git_project / "secrets", git=facts)
    assert codes(result) == ["S011"]
    assert result.findings[0].message.startswith("secrets/api_key is tracked by git")
    assert result.findings[0].fix == "git rm --cached secrets/api_key, then rotate it"


def test_staged_but_uncommitted_secret_counts_as_tracked(git_project: Path) -> None:
    git(git_project, "add", "secrets/hmac")
    facts = gitfiles.git_facts(git_project, git_project / "secrets")
    assert facts.tracked == frozenset({"secrets/hmac"})
    assert codes(check_store(manifest(), git_project / "secrets", git=facts)) == ["S011", "S012"]


def test_outside_a_git_repo_no_git_findings(tmp_path: Path) -> None:
    store = make_store(tmp_path, GOOD)
    facts = gitfiles.git_facts(tmp_path, store)
    assert facts.in_repo is False
    assert check_store(manifest(), store, git=facts).findings == []


def test_check_secrets_op_runs_the_git_checks(git_project: Path) -> None:
    report = run_check(Project(project_dir=git_project))
    assert [f.code for f in report.findings] == ["S012"]
    assert report.exit_code == 1


# --- across secrets ------------------------------------------------------------------------------


def test_duplicate_values_warning(store: Path) -> None:
    shared = b"Shared0Value0For0Both0Of0Them"
    (store / "api_key").write_bytes(shared)
    (store / "db_password").write_bytes(shared + b"\n")  # same value once trimmed
    result = check_store(manifest(), store)
    dup = [f for f in result.findings if f.code == "S013"]
    assert [(f.severity, f.message) for f in dup] == [
        ("warning", "secrets db_password, api_key share the same value")
    ]


def test_stray_file_warning(store: Path) -> None:
    (store / "old_key").write_bytes(b"leftover")
    (store / "README.md").write_text("notes")
    result = check_store(manifest(), store)
    assert [(f.code, f.severity, f.message) for f in result.findings] == [
        ("S014", "warning", "secrets/old_key is claimed by no manifest secret")
    ]


def test_rotation_versions_are_not_stray(store: Path) -> None:
    for name in ("api_key.v1", "api_key.v2", "hmac.v10", "db_password.v3"):
        (store / name).write_bytes(b"x" * 30)
        os.chmod(store / name, 0o600)
    (store / "unknown.v2").write_bytes(b"x")
    (store / "api_key.vX").write_bytes(b"x")
    result = check_store(manifest(), store)
    strays = sorted(f.message for f in result.findings if f.code == "S014")
    assert strays == [
        "secrets/api_key.vX is claimed by no manifest secret",
        "secrets/unknown.v2 is claimed by no manifest secret",
    ]


# --- --fix: the mechanical fixes and nothing else -----------------------------------------------


def _project(root: Path, extra: str, values: dict[str, bytes], gid: int | None) -> Project:
    (root / "secrets.manifest.yml").write_text(BASE.format(extra=extra))
    make_store(root, values, gid)
    return Project(project_dir=root)


def test_fix_applies_only_mechanical_fixes(tmp_path: Path) -> None:
    values = dict(GOOD, hmac=b"ab" * 31, api_key=b"changeme")  # wrong length, placeholder
    project = _project(tmp_path, f"secrets_gid: {GID}", values, GID)
    store = tmp_path / "secrets"
    (store / "db_password").write_bytes(GOOD["db_password"] + b"\n")
    os.chmod(store / "db_password", 0o644)
    os.chown(store / "hmac", -1, OTHER_GID)
    os.chmod(store, 0o755)
    (store / "stray").write_bytes(b"left alone")
    before = {p.name: p.read_bytes() for p in store.iterdir() if p.name != "db_password"}

    report = run_check(project, fix=True)

    assert sorted(item["action"] for item in report.data["fixed"]) == [
        "chgrp",
        "chmod",
        "chmod",
        "strip-whitespace",
    ]
    assert (store / "db_password").read_bytes() == GOOD["db_password"]
    assert stat.S_IMODE((store / "db_password").stat().st_mode) == 0o640
    assert (store / "hmac").stat().st_gid == GID
    assert stat.S_IMODE(store.stat().st_mode) == 0o750
    # content problems are reported, never "fixed"; strays are left where they are
    after = {p.name: p.read_bytes() for p in store.iterdir() if p.name != "db_password"}
    assert after == before
    assert sorted(f.code for f in report.findings) == ["S006", "S007", "S014"]
    assert report.exit_code == 1
    assert sorted(os.listdir(store)) == ["api_key", "db_password", "hmac", "stray"]


@pytest.mark.parametrize("around", [(b"", b"\n"), (b" ", b"\t\n\n"), (b"\t", b"")])
def test_fix_strips_whitespace_and_keeps_mode_and_group(
    tmp_path: Path, around: tuple[bytes, bytes]
) -> None:
    project = _project(tmp_path, f"secrets_gid: {GID}", GOOD, GID)
    path = tmp_path / "secrets" / "api_key"
    path.write_bytes(around[0] + GOOD["api_key"] + around[1])
    os.chmod(path, 0o440)
    assert run_check(project).exit_code == 1
    report = run_check(project, fix=True)
    assert report.findings == []
    assert report.exit_code == 0
    assert report.data["fixed"] == [{"action": "strip-whitespace", "path": str(path)}]
    assert path.read_bytes() == GOOD["api_key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert path.stat().st_gid == GID
    assert sorted(os.listdir(tmp_path / "secrets")) == sorted(GOOD)


def test_without_fix_nothing_changes(tmp_path: Path) -> None:
    project = _project(tmp_path, "", GOOD, None)
    path = tmp_path / "secrets" / "api_key"
    path.write_bytes(GOOD["api_key"] + b"\n")
    os.chmod(path, 0o644)
    report = run_check(project)
    assert sorted(f.code for f in report.findings) == ["S005", "S009"]
    assert report.data["fixed"] == []
    assert report.summary == "secrets NOT ready: 2 error(s), 0 warning(s), 2 fixable with --fix"
    assert path.read_bytes() == GOOD["api_key"] + b"\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# --- kind pem and multi-line text (issue 8, class 9) -------------------------------------------


def pem_manifest(name: str = "key", kind: str = "pem", extra: str = "") -> Manifest:
    return manifest(text=one_value(name, kind=kind, extra=extra))


@pytest.mark.parametrize(
    "value",
    [
        ed25519_pem(),
        ed25519_pem().rstrip(b"\n"),  # no final newline: fine too
        rsa_like_pem(),
        rsa_like_pem() + cert_block() + b"\n",  # key then its certificate
        cert_block() + b"\n\n" + ed25519_pem(),  # a blank line between blocks
        block("RSA PRIVATE KEY", os.urandom(600)).replace(
            b"-----\n",
            b"-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n",
            1,
        ),  # a legacy encrypted key: RFC 1421 headers, then a blank line
    ],
    ids=["ed25519", "no-final-newline", "rsa", "key+cert", "cert+blank+key", "rfc1421-headers"],
)
def test_pem_keys_are_accepted_with_their_newlines(tmp_path: Path, value: bytes) -> None:
    store = make_store(tmp_path, {"key": value})
    result = check_store(pem_manifest(), store)
    assert result.findings == []
    assert result.fixes == []
    assert result.values["key"] == value.strip()  # interior newlines kept


@pytest.mark.parametrize(
    "args",
    [["ed25519"], ["RSA"], ["EC", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ids=["ed25519", "rsa", "ec"],
)
def test_real_openssl_keys_are_accepted(tmp_path: Path, args: list[str]) -> None:
    key = openssl_key(*args)
    if key is None:
        require(False, "openssl is missing (scripts/engine.sh installs it)")
    store = make_store(tmp_path, {"key": key})
    assert check_store(pem_manifest(), store).findings == []


def test_an_openssh_private_key_is_accepted(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        require(False, "ssh-keygen is missing (scripts/engine.sh installs it)")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    store = make_store(tmp_path, {"key": (tmp_path / "id").read_bytes()})
    assert check_store(pem_manifest(), store).findings == []


_KEY_LINE = base64.b64encode(ED25519_PREFIX + os.urandom(32))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"just one line of text", "no -----BEGIN ...----- block"),
        (
            b"-----BEGIN PRIVATE KEY-----\n" + _KEY_LINE + b"\n-----END RSA PRIVATE KEY-----",
            "line 3: END label differs from the BEGIN label at line 1",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n" + _KEY_LINE,
            "the block opened at line 1 has no END line",
        ),
        (_KEY_LINE + b"\n-----END PRIVATE KEY-----", "no -----BEGIN ...----- block"),
        (
            ed25519_pem() + b"-----END PRIVATE KEY-----",
            "line 4: END without a BEGIN",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n"
            + _KEY_LINE[:20]
            + b"!@#"
            + _KEY_LINE[23:]
            + b"\n-----END PRIVATE KEY-----",
            "line 2: not a base64 line",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n" + _KEY_LINE + b" \n-----END PRIVATE KEY-----",
            "line 2: not a base64 line",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n" + _KEY_LINE[:-1] + b"\n-----END PRIVATE KEY-----",
            "the block opened at line 1 is not valid base64",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----",
            "the block opened at line 1 is empty",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n"
            + _KEY_LINE[:32]
            + b"\n\n"
            + _KEY_LINE[32:]
            + b"\n-----END PRIVATE KEY-----",
            "line 3: blank line inside the block opened at line 1",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\n-----BEGIN PRIVATE KEY-----\n"
            + _KEY_LINE
            + b"\n-----END PRIVATE KEY-----",
            "line 2: BEGIN inside the block opened at line 1",
        ),
        (
            ed25519_pem() + b"Bag Attributes: trailing text\n",
            "line 4: text outside a BEGIN/END block",
        ),
    ],
    ids=[
        "no-block",
        "label-mismatch",
        "no-end",
        "no-begin",
        "end-without-begin",
        "bad-char",
        "trailing-space-in-line",
        "bad-padding",
        "empty-block",
        "blank-inside",
        "nested-begin",
        "text-after",
    ],
)
def test_malformed_pem_is_an_error_naming_the_line(
    tmp_path: Path, value: bytes, problem: str
) -> None:
    store = make_store(tmp_path, {"key": value})
    result = check_store(pem_manifest(), store)
    assert [(f.code, f.message) for f in result.findings] == [
        ("S006", f"secrets/key: pem {problem}")
    ]
    assert "key" not in result.values


def test_pem_findings_never_quote_the_key(tmp_path: Path) -> None:
    line = _KEY_LINE.decode()
    bad = b"-----BEGIN " + _KEY_LINE[:12] + b"-----\n" + _KEY_LINE + b"\n-----END X-----"
    store = make_store(tmp_path, {"key": bad})
    result = check_store(pem_manifest(), store)
    text = " ".join(f"{f.message} {f.fix}" for f in result.findings)
    assert result.findings and line[:12] not in text and line[20:32] not in text


@pytest.mark.parametrize(
    "raw",
    [ED25519_PEM + b"\n", b"\n" + ED25519_PEM, ED25519_PEM.rstrip(b"\n") + b" \n"],
    ids=["blank-line-after", "blank-line-before", "space-after-end"],
)
def test_pem_whitespace_beyond_one_final_newline_is_a_fixable_warning(
    tmp_path: Path, raw: bytes
) -> None:
    store = make_store(tmp_path, {"key": raw})
    result = check_store(pem_manifest(), store)
    assert [(f.code, f.severity) for f in result.findings] == [("S005", "warning")]
    assert result.fixes == [Fix("strip-whitespace", store / "key", multiline=True)]
    fs.apply_fix(result.fixes[0])
    assert (store / "key").read_bytes() == ED25519_PEM
    assert check_store(pem_manifest(), store).findings == []


def test_multiline_text_needs_the_flag(tmp_path: Path) -> None:
    value = "[client]\nuser = titan\npassword = " + _rand(ALNUM, 24) + "\n"
    store = make_store(tmp_path, {"conf": value.encode()})
    plain = manifest(text=one_value("conf", kind="text"))
    assert codes(check_store(plain, store)) == ["S004"]
    flagged = manifest(text=one_value("conf", kind="text", extra="    multiline: true\n"))
    result = check_store(flagged, store)
    assert result.findings == []
    assert result.values["conf"] == value.strip().encode()


@pytest.mark.parametrize("bad", [b"a = 1\r\nb = 2\r\n", b"a = 1\n\x00b = 2\n"], ids=["cr", "nul"])
def test_multiline_text_still_refuses_cr_and_nul(tmp_path: Path, bad: bytes) -> None:
    flagged = manifest(text=one_value("conf", kind="text", extra="    multiline: true\n"))
    store = make_store(tmp_path, {"conf": bad})
    assert codes(check_store(flagged, store)) == ["S004"]


# --- weak values (class 11) ----------------------------------------------------------------------

WEAK = {
    "short": b"Ab1-xY",
    "few distinct": b"abababababababababab",
    "a word": b"nextcloud",
    "a word and a number": b"Admin2024",
    "upper-case word": b"NEXTCLOUDADMIN",
    "only digits": b"123456789012",
}


@pytest.mark.parametrize("kind", ["password", "api-key", "token"])
@pytest.mark.parametrize("value", list(WEAK.values()), ids=list(WEAK))
def test_weak_values_are_errors_for_guessable_kinds(
    tmp_path: Path, kind: str, value: bytes
) -> None:
    extra = "    min_length: 1\n"
    store = make_store(tmp_path, {"s": value})
    result = check_store(manifest(text=one_value("s", kind=kind, extra=extra)), store)
    assert [(f.code, f.severity) for f in result.findings] == [("S023", "error")]
    message = result.findings[0].message
    assert message.startswith(f"secrets/s: {kind} is weak (")
    assert value.decode() not in message
    assert "s" in result.values  # still searched for leaks (as a whole word)


def test_a_weak_hex_value_is_an_error(tmp_path: Path) -> None:
    store = make_store(tmp_path, dict(GOOD, hmac=b"0f" * 32))
    result = check_store(manifest(), store)
    assert [(f.code, f.severity, f.secret) for f in result.findings] == [("S023", "error", "hmac")]
    assert "fewer than 5 distinct characters" in result.findings[0].message


def test_a_weak_text_value_is_a_warning(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"s": b"nextcloud"})
    result = check_store(manifest(text=one_value("s", kind="text")), store)
    assert [(f.code, f.severity) for f in result.findings] == [("S023", "warning")]


NAMED = """\
version: 1
secrets:
  exchange_api_secret_main:
    kind: api-key
    consumers: {titan-execution: X_FILE}
  other:
    kind: api-key
    consumers: {titan-execution: Y_FILE}
"""


@pytest.mark.parametrize(
    "name", ["exchange_api_secret_main", "titan-execution", "Titan-Execution", "titan-prod-2"]
)
def test_a_value_equal_to_a_secret_service_or_project_name_is_weak(
    tmp_path: Path, name: str
) -> None:
    """Names that pass every other rule (long, mixed, separators): equal to a name is weak."""
    store = make_store(
        tmp_path, {"exchange_api_secret_main": GOOD["api_key"], "other": name.encode()}
    )
    result = check_store(manifest(text=NAMED), store, names=("titan-prod-2",))
    assert [(f.code, f.severity, f.secret) for f in result.findings] == [("S023", "error", "other")]
    message = result.findings[0].message
    assert "equal to the name of a secret, a service or the project" in message
    assert name.lower() not in message.lower()


def test_a_strong_value_that_contains_a_name_is_not_weak(store: Path) -> None:
    (store / "api_key").write_bytes(b"db_password-" + GOOD["api_key"])
    assert check_store(manifest(), store).findings == []
