"""audit-logs on a real engine: clean demo logs, planted leaks in every encoding, a secret in an
env var and in an image layer (issue 5, item 5)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.parse
import uuid

import pytest

from tests.integration.stackkit import assert_no_canary

pytestmark = pytest.mark.docker

SPECIAL = b'AIza/q+Z"w\\x%3D~~~???~~~???01234'  # url, json and base64url forms differ from raw


PLANTED: set[str] = set()  # services whose logs plant() wrote to


@pytest.fixture
def demo(demo):
    """The session's demo stack (tests/integration/conftest.py), put back after each test as it
    was: files the test added to the secrets dir and values it added are removed, and a service
    whose logs plant() wrote to is recreated (fresh logs), so modules after this one find the
    stack as `up` left it."""
    files = set((demo.root / "secrets").iterdir())
    values = dict(demo.values)
    yield demo
    for path in set((demo.root / "secrets").iterdir()) - files:
        path.unlink()
    demo.values.clear()
    demo.values.update(values)
    for service in sorted(PLANTED):
        up = demo.compose(
            *("up", "--detach", "--no-deps", "--force-recreate", "--pull", "never"),
            *("--wait", "--wait-timeout", "120", service),
        )
        assert up.returncode == 0, up.stderr
    PLANTED.clear()


def container_of(stack, service: str) -> str:
    done = stack.compose("ps", "--quiet", service)
    return done.stdout.split()[0]


def plant(stack, service: str, lines: list[bytes]) -> None:
    """Write lines to the service's stdout (PID 1's fd 1) through stdin: no value in argv."""
    cid = container_of(stack, service)
    PLANTED.add(service)
    subprocess.run(
        ["docker", "exec", "-i", cid, "sh", "-c", "cat > /proc/1/fd/1"],
        input=b"".join(line + b"\n" for line in lines),
        check=True,
    )


def audit(stack, *args: str) -> tuple[int, dict]:
    result = stack.td("--json", "audit-logs", *args)
    assert result.returncode in (0, 1), result.output
    return result.returncode, json.loads(result.stdout)


def test_clean_demo_logs_pass_and_show_masking(demo):
    code, doc = audit(demo)
    assert code == 0, doc["findings"]
    masked = doc["data"]["masked_lines"]
    for service in ("titan-brain", "titan-execution", "titan-sentinel", "grafana"):
        assert masked[service] > 0, (service, masked)
    assert doc["data"]["hits"] == []
    assert "titan_hmac_secret" in doc["data"]["secrets_searched"]
    human = demo.td("audit-logs")
    assert human.returncode == 0 and "masked_lines" in human.stdout
    assert_no_canary(demo)


def test_planted_leaks_found_with_service_and_encoding(demo):
    hmac = demo.values["titan_hmac_secret"]
    version = demo.root / "secrets" / "gemini_api_key.v9"  # a rotation version on disk counts
    version.write_bytes(SPECIAL)
    os.chmod(version, 0o600)
    demo.values["special"] = SPECIAL
    blob = b"\x00\x01\x02"
    planted = {
        "raw": b"sig key " + hmac,
        "hex": b"dump " + hmac.hex().encode(),
        "HEX": b"DUMP " + SPECIAL.hex().upper().encode(),  # hex of hex is digits only
        "base64@0": b"b64 " + base64.b64encode(hmac + b"tail"),
        "base64@1": b"b64 " + base64.b64encode(blob[:1] + hmac + b"tail"),
        "base64@2": b"b64 " + base64.b64encode(blob[:2] + hmac + b"tail"),
        "base64url@1": b"jwt " + base64.urlsafe_b64encode(blob[:1] + SPECIAL + b"xy"),
        "url": b"GET /?k=" + urllib.parse.quote(SPECIAL, safe="").encode(),
        "json": b'{"k": ' + json.dumps(SPECIAL.decode()).encode() + b"}",
    }
    plant(demo, "titan-scavenger", list(planted.values()))
    code, doc = audit(demo, "--service", "titan-scavenger")
    assert code == 1
    found = {(h["service"], h["source"], h["encoding"]) for h in doc["data"]["hits"]}
    for encoding in planted:
        assert ("titan-scavenger", "logs", encoding) in found, (encoding, found)
    secrets = {h["encoding"]: h["secret"] for h in doc["data"]["hits"]}
    assert secrets["raw"] == "titan_hmac_secret" and secrets["url"] == "gemini_api_key"
    assert all(h["timestamp"] and h["line"] > 0 for h in doc["data"]["hits"])
    other = audit(demo, "--service", "titan-brain")
    assert other[0] == 0  # the leak is attributed to the right service only
    human = demo.td("audit-logs", "--service", "titan-scavenger")
    assert human.returncode == 1 and "titan-scavenger" in human.stdout
    demo.td("-v", "audit-logs")
    assert_no_canary(demo)


def test_secret_in_env_and_in_image_layer(stack, tmp_path, busybox_image):
    s = stack()
    value = s.values["api_token"].decode()
    tag = f"titan-test/baked:{uuid.uuid4().hex[:8]}"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\nLABEL org.titan-deploy.test=1\nENV BAKED_TOKEN={value}\n"
    )
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(context)], check=True, env=env, capture_output=True
    )
    try:

        def leak(doc):
            doc["services"]["reader"]["image"] = tag
            doc["services"]["signer"]["environment"] = {"API_URL": f"https://x/?t={value}"}

        s.edit_compose(leak)
        assert s.td("up", "--timeout", "60").returncode == 1  # lint refuses the value (L012)
        # deployed anyway, around titan-deploy: audit-logs still finds it in config and image
        deployed = s.compose("up", "--detach", "--wait", "--wait-timeout", "60", "--pull", "never")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        code, doc = audit(s)
        assert code == 1
        found = {(h["service"], h["source"], h["secret"]) for h in doc["data"]["hits"]}
        assert ("signer", "inspect", "api_token") in found
        assert ("reader", "image", "api_token") in found
        assert_no_canary(s)
    finally:
        s.down()
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
