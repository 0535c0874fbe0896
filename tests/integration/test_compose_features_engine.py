"""Issue 10 item 4 on the REAL engine and Compose v2 (busybox stacks from stackkit.py, each its
own tdtest-* project): `include:`, `--profile` (an inactive consumer is not active, not missing),
render refusing a merged result Compose rejects (nothing written, no value in the error), a base
file's `external:` secret replaced by the overlay, and `up --build` of a local Dockerfile."""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest
import yaml

from tests.integration.stackkit import assert_no_canary

pytestmark = pytest.mark.docker


def rows(result) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in json.loads(result.stdout)["rows"]:
        out.setdefault(row["service"], []).append(row)
    return out


def test_services_of_an_included_file_are_deployed_and_verified(stack) -> None:
    s = stack()
    doc = yaml.safe_load((s.root / "docker-compose.yml").read_text())
    reader = doc["services"].pop("reader")
    (s.root / "parts").mkdir()
    (s.root / "parts" / "reader.yml").write_text(yaml.safe_dump({"services": {"reader": reader}}))
    doc["include"] = ["parts/reader.yml"]
    (s.root / "docker-compose.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    assert {r["service"] for r in json.loads(up.stdout)["rows"]} == {"signer", "reader"}
    verify = s.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    assert_no_canary(s)


def test_a_consumer_in_an_inactive_profile_is_reported_not_active(stack) -> None:
    s = stack()
    s.edit_compose(lambda doc: doc["services"]["reader"].update(profiles=["extra"]))
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    verify = s.td("--json", "verify")
    assert verify.returncode == 0, verify.output
    reader = rows(verify)["reader"]
    assert [r["problem"] for r in reader] == ["not active (profile extra)"]
    assert json.loads(verify.stdout)["data"]["inactive"] == {"reader": ["extra"]}
    assert "not active: reader (profile extra)" in verify.stdout
    # the profile enabled: reader is active and not running, a failure as for any consumer
    active = s.td("--json", "--profile", "extra", "verify")
    assert active.returncode == 1, active.output
    assert "reader" in {f["service"] for f in json.loads(active.stdout)["findings"]}
    up = s.td("--json", "--profile", "extra", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    assert s.td("--profile", "extra", "verify").returncode == 0
    assert_no_canary(s)


def test_render_refuses_a_merged_result_compose_rejects(stack) -> None:
    s = stack()
    value = "portcanary" + secrets.token_urlsafe(16)
    s.values["env_port"] = value.encode()
    (s.root / ".env").write_text(f"READER_PORT={value}\n")
    s.edit_compose(lambda doc: doc["services"]["reader"].update(ports=["${READER_PORT}"]))
    overlay = s.root / "docker-compose.secrets.yml"
    overlay.unlink(missing_ok=True)
    for mode in ([], ["--json"], ["-v"]):
        result = s.td(*mode, "render")
        assert result.returncode == 2, result.output
        assert "compose rejects the merged result" in result.output
        assert not overlay.exists()
        assert not [p for p in s.root.iterdir() if ".tmp-" in p.name]
    up = s.td("up", "--timeout", "30")
    assert up.returncode == 2, up.output
    assert "compose rejects the merged result" in up.output
    lint = s.td("--json", "lint")  # lint itself needs the overlay: render's refusal stands
    assert lint.returncode == 2, lint.output
    assert_no_canary(s)


def test_lint_reports_what_compose_rejects_as_a_finding(stack) -> None:
    s = stack()
    assert s.td("render").returncode == 0
    s.edit_compose(lambda doc: doc["services"]["reader"].update(ports=["not-a-port"]))
    lint = s.td("--json", "lint")
    assert lint.returncode == 1, lint.output
    findings = json.loads(lint.stdout)["findings"]
    assert [f["code"] for f in findings] == ["L016"]
    assert "not-a-port" in findings[0]["message"]
    assert_no_canary(s)


def test_an_external_base_secret_is_replaced_and_up_verifies(stack) -> None:
    s = stack()

    def external(doc: dict) -> None:
        doc["services"]["signer"]["secrets"] = ["db_password"]
        doc["secrets"] = {"db_password": {"external": True}}

    s.edit_compose(external)
    # the "clear refusal naming the alternative": lint's L014 stops up, at file:line
    refused = s.td("--json", "up", "--timeout", "60")
    assert refused.returncode == 1, refused.output
    (finding,) = [f for f in json.loads(refused.stdout)["findings"] if f["code"] == "L014"]
    assert "external:" in finding["message"] and "./secrets/db_password" in finding["fix"]
    # an operator who accepts it (a waiver with its reason): the overlay replaces the entry whole
    manifest = s.root / "secrets.manifest.yml"
    manifest.write_text(
        manifest.read_text()
        + "waivers:\n  - {code: L014, secret: db_password, reason: 'upstream file, OPS-1'}\n"
    )
    up = s.td("--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    overlay = (s.root / "docker-compose.secrets.yml").read_text()
    assert '"db_password": !override' in overlay
    config = s.compose("config", "--format", "json")
    assert json.loads(config.stdout)["secrets"]["db_password"]["file"] == str(
        s.secret_path("db_password")
    )
    assert s.td("verify").returncode == 0
    assert_no_canary(s)


def test_up_build_builds_a_local_dockerfile(stack, busybox_image) -> None:
    s = stack()
    tag = f"{s.name}-built:1"
    (s.root / "app").mkdir()
    (s.root / "app" / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN echo built > /built-by-compose\n"
    )
    s.edit_compose(
        lambda doc: doc["services"]["signer"].update(
            image=tag, build={"context": "app", "pull": False}
        )
    )
    try:
        without = s.td("up", "--timeout", "60")
        assert without.returncode == 3, without.output
        assert "up --build" in without.output
        up = s.td("up", "--build", "--timeout", "60")
        assert up.returncode == 0, up.output
        assert "building the images of signer" in up.stderr
        done = s.compose("exec", "-T", "signer", "cat", "/built-by-compose")
        assert done.stdout.strip() == "built"
        assert_no_canary(s)
    finally:
        s.down()
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)
