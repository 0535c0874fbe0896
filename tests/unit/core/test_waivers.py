"""core/waivers.py: parsing the manifest's `waivers:` (one clear line per mistake, codes that
are facts refused) and applying them to findings (waived, stale W001, expired W002)."""

from __future__ import annotations

import datetime

import pytest

from titan_deploy.core.findings import Finding, Report, error, warning
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.waivers import Waiver, apply_waivers, refusal
from titan_deploy.errors import ConfigError

HEAD = """\
version: 1
secrets:
  api_key:
    kind: api-key
    consumers: {app: API_KEY_FILE}
"""
TODAY = datetime.date(2026, 6, 1)


def manifest(waivers: str):
    return parse_manifest_text(HEAD + "waivers:\n" + waivers)


def test_a_waiver_is_parsed_with_its_scope_reason_expiry_and_line() -> None:
    m = manifest(
        "  - code: L011\n"
        "    service: redis\n"
        "    reason: the upstream redis image reads its password only from argv\n"
        "    expires: 2026-12-31\n"
        "  - {code: L015, file: ./docker-compose.yml, reason: 'dev default, rotated'}\n"
    )
    first, second = m.waivers
    assert first == Waiver(
        code="L011",
        reason="the upstream redis image reads its password only from argv",
        service="redis",
        expires=datetime.date(2026, 12, 31),
        line=7,
    )
    assert second.file == "docker-compose.yml" and second.expires is None


def test_no_waivers_key_means_none() -> None:
    assert parse_manifest_text(HEAD).waivers == ()


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("  - {code: L011, service: redis}", "waivers[0]: a waiver needs a non-empty `reason`"),
        ("  - {code: L011, service: redis, reason: '  '}", "needs a non-empty `reason`"),
        ("  - {code: L011, reason: because}", "needs where it applies: service, secret"),
        ("  - {code: L11, service: redis, reason: r}", "waivers[0].code: should be a finding code"),
        ("  - {code: L011, service: x, reason: r, expires: soon}", "should be a date YYYY-MM-DD"),
        ("  - {code: L011, service: x, reason: r, until: 2026-01-01}", "unknown key"),
        ("  - L011", "waivers[0]: must be a mapping"),
        ("  - {code: V002, service: app, reason: r}", "V002 cannot be waived: verify proves"),
        ("  - {code: A001, service: app, reason: r}", "A001 cannot be waived: audit-logs found"),
        ("  - {code: D001, secret: api_key, reason: r}", "D001 cannot be waived"),
        ("  - {code: L012, service: app, reason: r}", "L012 cannot be waived: a secret's value"),
        ("  - {code: S001, secret: api_key, reason: r}", "S001 cannot be waived: the secret file"),
        ("  - {code: S011, secret: api_key, reason: r}", "S011 cannot be waived"),
        ("  - {code: W001, file: x, reason: r}", "W001 cannot be waived"),
        ("  - {code: X001, file: x, reason: r}", "only lint (L...) and check-secrets (S...)"),
    ],
)
def test_a_bad_waiver_is_one_line_naming_file_line_and_key(item: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        manifest(item + "\n")
    message = str(exc.value)
    assert message.startswith("secrets.manifest.yml:7: waivers[0]")
    assert problem in message and "\n" not in message


def test_waivers_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match=r"waivers: should be a list"):
        parse_manifest_text(HEAD + "waivers: {code: L011}\n")


@pytest.mark.parametrize("code", ["L001", "L011", "L014", "L015", "S009", "S023", "S005"])
def test_judgements_can_be_waived(code: str) -> None:
    assert refusal(code) is None


# --- applying ---------------------------------------------------------------------------------

L011 = error("L011", "command puts $REDIS_PASSWORD on a command line", service="redis")
WAIVER = Waiver("L011", "upstream image", service="redis", line=9)


def test_a_matching_waiver_waives_the_finding_and_keeps_it_shown() -> None:
    out = apply_waivers([L011], [WAIVER], "L", TODAY)
    assert len(out) == 1 and out[0].waived == "upstream image"
    report = Report("lint", findings=out)
    assert report.ok and report.exit_code == 0 and report.errors == []
    doc = report.to_dict()
    assert doc["counts"] == {"error": 0, "warning": 0, "waived": 1}
    assert doc["findings"][0]["waived"] == {"reason": "upstream image", "expires": None}
    assert doc["findings"][0]["severity"] == "error"  # what it is; the waiver is beside it


def test_every_scope_a_waiver_names_must_match() -> None:
    other = error("L011", "…", service="worker")
    scoped = Waiver("L011", "r", service="redis", secret="api_key")
    out = apply_waivers([L011, other], [scoped], "L", TODAY)
    assert [f.waived for f in out[:2]] == [None, None]  # L011 carries no secret
    assert out[2].code == "W001"


def test_a_file_scope_matches_the_finding_file_normalised() -> None:
    finding = Finding("warning", "L015", "…", service="db", file="./compose/base.yml", line=3)
    out = apply_waivers([finding], [Waiver("L015", "r", file="compose/base.yml")], "L", TODAY)
    assert out == [Finding(**{**finding.__dict__, "waived": "r"})]


def test_a_waiver_that_matches_nothing_is_a_stale_warning_naming_its_manifest_line() -> None:
    out = apply_waivers([], [WAIVER], "L", TODAY, manifest="ops/secrets.manifest.yml")
    assert [(f.code, f.severity, f.file, f.line) for f in out] == [
        ("W001", "warning", "ops/secrets.manifest.yml", 9)
    ]
    assert "L011 for service redis" in out[0].message and "stale" in out[0].message
    assert Report("lint", findings=out).exit_code == 0


def test_an_expired_waiver_waives_nothing_and_says_so() -> None:
    old = Waiver("L011", "r", service="redis", expires=datetime.date(2026, 5, 31), line=9)
    out = apply_waivers([L011], [old], "L", TODAY)
    assert out[0].waived is None
    assert (out[1].code, out[1].severity) == ("W002", "warning")
    assert "expired on 2026-05-31" in out[1].message
    assert Report("lint", findings=out).exit_code == 1


def test_a_waiver_is_active_through_its_expiry_day() -> None:
    last_day = Waiver("L011", "r", service="redis", expires=TODAY)
    out = apply_waivers([L011], [last_day], "L", TODAY)
    assert out[0].waived == "r" and out[0].waived_until == "2026-06-01" and len(out) == 1


def test_each_command_judges_only_its_own_family() -> None:
    check_waiver = Waiver("S023", "r", secret="api_key")
    assert apply_waivers([L011], [check_waiver], "L", TODAY) == [L011]  # not stale for lint
    stale = apply_waivers([], [check_waiver], "S", TODAY)
    assert [f.code for f in stale] == ["W001"]


def test_a_fact_is_never_waived_even_by_a_waiver_built_in_code() -> None:
    leak = error("L012", "env_file .env sets X to the value of secret api_key", service="app")
    forged = Waiver("L012", "r", service="app")
    out = apply_waivers([leak], [forged], "L", TODAY)
    assert out[0].waived is None and out[1].code == "W001"


def test_info_findings_and_warnings() -> None:
    note = Finding("info", "L004", "…", secret="api_key")
    warn = warning("L004", "…", secret="api_key")
    out = apply_waivers([note, warn], [Waiver("L004", "r", secret="api_key")], "L", TODAY)
    assert out[0].waived is None and out[1].waived == "r"
    assert Report("lint", findings=out).warnings == []
