"""`rotate secret NAME` and `up` applying an edited restart secret, on the real engine (issue 10
item 5): busybox stand-ins (tests/integration/stackkit.py), a unique tdtest-* project each.

`signer` reads api_token (rotation: restart, no group) and is healthy only while the value it
mounts starts with `ok-` (its healthcheck reads the file; the value never reaches argv): a new
value `ok-...` is proved and kept, a value `bad-...` makes it unhealthy and is rolled back.
"""

from __future__ import annotations

import json
import os
import secrets as pyrandom
from pathlib import Path

import pytest
import yaml

from tests.integration.rotation_kit import ProcSampler, run_td
from tests.integration.stackkit import Stack, assert_no_canary

pytestmark = pytest.mark.docker

GID = 10500
TOKEN = "api_token"
HEALTH = [
    "CMD",
    "sh",
    "-c",
    "grep -q '^ok-' /run/secrets/api_token",
]
TARGET = "/etc/app/api.token"
FAST = ["--stop-timeout", "1", "--settle", "0", "--timeout", "60", "--log-timeout", "20"]


def new_value(stack: Stack, prefix: str = "ok-") -> bytes:
    value = (prefix + pyrandom.token_urlsafe(30)).encode()
    stack.values[f"new-{len(stack.values)}"] = value
    return value


def save(path: Path, value: bytes) -> None:
    """An editor's save: a new file renamed over the old one (new inode)."""
    tmp = path.with_name(f".{path.name}.edit")
    tmp.write_bytes(value)
    tmp.chmod(0o640)
    os.chown(tmp, -1, GID)
    os.replace(tmp, path)


@pytest.fixture
def restart_stack(stack):
    """The busybox stack, signer's health tied to its api_token, deployed and verified."""
    return _deploy(stack())


@pytest.fixture
def target_stack(stack):
    """restart_stack where `reader` (uid 1000) also reads api_token, at a fixed path with no env
    var (`target:`, issue 10 item 1)."""
    s = stack()
    manifest = yaml.safe_load((s.root / "secrets.manifest.yml").read_text())
    manifest["secrets"][TOKEN]["consumers"]["reader"] = {"target": TARGET}
    (s.root / "secrets.manifest.yml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return _deploy(s)


def _deploy(s: Stack) -> Stack:
    s.edit_compose(lambda doc: doc["services"]["signer"].update(healthcheck=_health()))
    save(s.secret_path(TOKEN), new_value(s))
    s.values[TOKEN] = s.secret_path(TOKEN).read_bytes()
    up = s.td("up", "--timeout", "60")
    assert up.returncode == 0, up.output
    return s


def _health() -> dict:
    return {"test": HEALTH, "interval": "1s", "retries": 2, "start_period": "0s"}


def container_value(stack: Stack, service: str, secret: str, path: str | None = None) -> bytes:
    """What `service` reads at `path` (default /run/secrets/<secret>)."""
    done = stack.compose("exec", "-T", service, "cat", path or f"/run/secrets/{secret}")
    assert done.returncode == 0, done.stderr
    return done.stdout.encode()


def versions(stack: Stack) -> list[str]:
    return sorted(p.name for p in (stack.root / "secrets").iterdir() if ".v" in p.name)


def td(stack: Stack, samplers: list[ProcSampler], *args: str, stdin: bytes | None = None):
    return run_td(stack, *args, stdin=stdin, sampler_sink=samplers)


def assert_clean(stack: Stack, samplers: list[ProcSampler]) -> None:
    """No value in any output of the tool, any process's argv while it ran, the env of its
    children, or the journal (tests/canary.py)."""
    assert sum(x.samples for x in samplers) > 0
    texts = [c for x in samplers for c in x.cmdlines] + [e for x in samplers for e in x.environs]
    journal = stack.root / ".titan-deploy" / "state.json"
    extra = journal.read_text() if journal.exists() else ""
    assert_no_canary(stack, "\n".join([*texts, extra]))


def test_rotate_secret_from_a_file_then_generated_ends_verified(target_stack, tmp_path):
    """reader reads api_token at a `target:` path, no env var: it is recreated on the new
    value there and verify proves it, like signer's /run/secrets/ mount."""
    s = target_stack
    assert container_value(s, "reader", TOKEN, TARGET) == s.values[TOKEN]
    samplers: list[ProcSampler] = []
    value = new_value(s)
    source = tmp_path / "new-token"
    source.touch(mode=0o600)
    source.write_bytes(value + b"\n")
    plan = td(s, samplers, "--json", "rotate", "secret", TOKEN, "--dry-run")
    assert plan.returncode == 0, plan.output
    assert json.loads(plan.stdout)["data"]["procedure"] == "restart"

    result = td(s, samplers, "--json", "rotate", "secret", TOKEN, "--from-file", str(source), *FAST)
    assert result.returncode == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "completed"
    assert doc["summary"].startswith(f"{TOKEN} rotated to v1: signer, reader recreated on it")
    verified = [r for r in doc["rows"] if r["action"] == "verify"]
    assert verified and all(r["status"] == "done" for r in verified)
    assert s.secret_path(TOKEN).read_bytes() == value  # the base file took the new value
    assert container_value(s, "signer", f"{TOKEN}") == value
    assert container_value(s, "reader", TOKEN, TARGET) == value
    assert versions(s) == [f"{TOKEN}.v1"]
    checked = td(s, samplers, "--json", "verify")
    assert checked.returncode == 0, checked.output
    rows = {(r["service"], r["secret"]): r for r in json.loads(checked.stdout)["rows"]}
    assert not rows[("reader", TOKEN)]["problem"]

    # again, generated (api_token has generate: true): a random token does not start with
    # `ok-`, so signer turns unhealthy on v2 and goes back to v1 (v2 deleted)
    again = td(s, samplers, "rotate", "secret", TOKEN, "--generate", *FAST)
    assert again.returncode == 1, again.output
    assert "was NOT rotated" in again.stdout
    assert container_value(s, "signer", TOKEN) == value
    assert container_value(s, "reader", TOKEN, TARGET) == value
    assert versions(s) == [f"{TOKEN}.v1"]
    assert td(s, samplers, "verify").returncode == 0
    assert_clean(s, samplers)


def test_a_consumer_unhealthy_on_the_new_value_is_rolled_back_to_the_old(restart_stack):
    s = restart_stack
    samplers: list[ProcSampler] = []
    old = s.secret_path(TOKEN).read_bytes()
    bad = new_value(s, prefix="bad-")
    result = td(s, samplers, "--json", "rotate", "secret", TOKEN, *FAST, stdin=bad + b"\n")
    assert result.returncode == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    rollback = [r for r in doc["rows"] if r["phase"] == "rollback"]
    assert [r["action"] for r in rollback] == ["repoint", "verify", "remove-versions"]
    assert all(r["status"] == "done" for r in rollback)
    assert s.secret_path(TOKEN).read_bytes() == old
    assert container_value(s, "signer", TOKEN) == old
    assert versions(s) == []
    status = td(s, samplers, "--json", "rotate", "status")
    assert json.loads(status.stdout)["data"]["active"] is None
    assert td(s, samplers, "verify").returncode == 0
    assert_clean(s, samplers)


def test_up_applies_an_edited_restart_secret_and_ends_verified(restart_stack):
    s = restart_stack
    samplers: list[ProcSampler] = []
    value = new_value(s)
    save(s.secret_path(TOKEN), value)
    verify = td(s, samplers, "--json", "verify")
    assert verify.returncode == 1
    (finding,) = json.loads(verify.stdout)["findings"]
    assert (finding["code"], finding["service"], finding["secret"]) == ("V002", "signer", TOKEN)
    assert finding["fix"].startswith("run `titan-deploy up`")

    up = td(s, samplers, "--json", "up", "--timeout", "60")
    assert up.returncode == 0, up.output
    doc = json.loads(up.stdout)
    assert doc["data"]["recreated"] == {"signer": [TOKEN]}
    assert "recreated signer (api_token)" in doc["summary"]
    assert [st["stage"] for st in doc["data"]["stages"]][-3:] == ["verify", "recreate", "verify"]
    assert container_value(s, "signer", TOKEN) == value
    assert td(s, samplers, "verify").returncode == 0

    # nothing edited: the next up recreates nothing
    quiet = td(s, samplers, "--json", "up", "--timeout", "60")
    assert quiet.returncode == 0, quiet.output
    assert "recreated" not in json.loads(quiet.stdout)["data"]

    # a rolling secret (db_password) is never recreated by up: V002 stays, with its advice
    save(s.secret_path("db_password"), new_value(s))
    rolling = td(s, samplers, "--json", "up", "--timeout", "60")
    assert rolling.returncode == 1, rolling.output
    doc = json.loads(rolling.stdout)
    assert "recreated" not in doc["data"]
    assert {(f["code"], f["secret"]) for f in doc["findings"]} == {("V002", "db_password")}
    assert all("titan-deploy up`: it recreates" not in f["fix"] for f in doc["findings"])
    assert_clean(s, samplers)


def test_killed_mid_rotation_then_resumed_ends_verified(restart_stack, tmp_path):
    """SIGKILLed right after signer was recreated on the new version (step 2 journaled): the
    journal finishes it (`rotate resume`), the value on disk, verify clean."""
    s = restart_stack
    samplers: list[ProcSampler] = []
    value = new_value(s)
    source = tmp_path / "new-token"
    source.touch(mode=0o600)
    source.write_bytes(value)
    argv = ["rotate", "secret", TOKEN, "--from-file", str(source), *FAST]
    crash = run_td(s, *argv, env={"TITAN_DEPLOY_CRASH_AFTER_STEP": "2"}, sampler_sink=samplers)
    assert crash.returncode == -9, crash.output
    status = json.loads(td(s, samplers, "--json", "rotate", "status").stdout)
    assert status["data"]["active"]["procedure"] == "restart"
    assert td(s, samplers, "up").returncode == 3  # refused while the rotation is in flight
    resume = td(s, samplers, "rotate", "resume", *FAST)
    assert resume.returncode == 0, resume.output
    assert "resumed and completed the restart of api_token rotation" in resume.stdout
    assert container_value(s, "signer", TOKEN) == value
    assert s.secret_path(TOKEN).read_bytes() == value
    assert td(s, samplers, "verify").returncode == 0
    assert_clean(s, samplers)


def test_a_rotation_with_nothing_deployed_says_nothing_was_changed(stack, tmp_path):
    """Never `up`: no consumer container. The rotation fails (no proof) and says no consumer is
    deployed, not that every consumer is back on the old value."""
    s = stack()
    save(s.secret_path(TOKEN), new_value(s))
    s.values[TOKEN] = s.secret_path(TOKEN).read_bytes()
    source = tmp_path / "new-token"
    source.write_bytes(new_value(s))
    result = s.td("rotate", "secret", TOKEN, "--from-file", str(source), *FAST)
    assert result.returncode == 1, result.output
    assert "was NOT rotated" in result.output and "no consumer is deployed" in result.output
    assert "back on the old value" not in result.output
    assert s.secret_path(TOKEN).read_bytes() == s.values[TOKEN]
    assert_no_canary(s)
