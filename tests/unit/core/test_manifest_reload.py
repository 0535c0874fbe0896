"""A consumer's `reload:` and `proof:`, a secret's `probe:` (core/manifest_reload.py), and what
the rotation plans make of them (core/rotation/plan.py: proof_steps, refuse_live_reload)."""

from __future__ import annotations

import pytest

from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.manifest_model import Proof, Reload
from titan_deploy.core.rotation import (
    CheckLog,
    Probe,
    Verify,
    apply_steps,
    plan_db,
    plan_exchange,
    plan_hmac,
    plan_restart,
    rollback_steps,
    spec_from_dict,
    spec_to_dict,
    step_from_dict,
    step_to_dict,
)
from titan_deploy.errors import ConfigError

BASE = """version: 1
secrets:
  nats_password:
    kind: password
    consumers:
      nats: {target: /run/secrets/nats_auth.conf, RELOAD}
      titan-brain: NATS_PASSWORD_FILE
"""

EXCHANGE = """version: 1
secrets:
  binance_api_key:
    kind: api-key
    group: binance
    verify_log: 'Exchange connected'
    probe: [python3, -m, standin, test-order, binance]
    consumers: {a: BINANCE_API_KEY_FILE, b: BINANCE_API_KEY_FILE}
  binance_api_secret:
    kind: api-key
    group: binance
    verify_log: 'Exchange connected'
    probe: [python3, -m, standin, test-order, binance]
    consumers:
      a: BINANCE_API_SECRET_FILE
      b: {env: BINANCE_API_SECRET_FILE, proof: {probe: ["true"], log: ready}}
"""


def manifest(reload: str):
    return parse_manifest_text(BASE.replace("RELOAD", reload), "m.yml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_manifest_text(text, "m.yml")
    return str(info.value)


def test_reload_forms_parse() -> None:
    m = manifest("reload: {exec: [nats-server, --signal, reload]}, proof: {log: Reloaded}")
    nats = m.secrets["nats_password"].consumer("nats")
    assert nats.reload == Reload("exec", command=("nats-server", "--signal", "reload"))
    assert nats.proof == Proof(log="Reloaded")
    m = manifest("reload: {signal: SIGHUP}, proof: {probe: [nats-server, --version]}")
    nats = m.secrets["nats_password"].consumer("nats")
    assert nats.reload == Reload("signal", signal="SIGHUP")
    assert nats.reload.describe() == "signal SIGHUP"
    assert manifest("reload: restart").secrets["nats_password"].consumer("nats").reload == Reload()
    assert m.secrets["nats_password"].consumer("titan-brain").reload == Reload()


@pytest.mark.parametrize(
    ("reload", "message"),
    [
        (
            "reload: {signal: SIGHUP}",
            "m.yml:6: secrets.nats_password.consumers.nats.reload: reload: signal needs `proof:`",
        ),
        (
            "reload: {signal: SIGKILL}, proof: {log: x}",
            "m.yml:6: secrets.nats_password.consumers.nats.reload.signal: should be one of SIGHUP",
        ),
        (
            "reload: {exec: []}, proof: {log: x}",
            "m.yml:6: secrets.nats_password.consumers.nats.reload.exec: should be a command",
        ),
        (
            "reload: {exec: [a], signal: SIGHUP}, proof: {log: x}",
            "m.yml:6: secrets.nats_password.consumers.nats.reload: should be restart, {signal",
        ),
        (
            "reload: restart, proof: {}",
            "m.yml:6: secrets.nats_password.consumers.nats.proof: needs `log: REGEX`",
        ),
        (
            'proof: {probe: ["a\\nb"]}',
            "m.yml:6: secrets.nats_password.consumers.nats.proof.probe[0]: should be a non-empty",
        ),
        (
            "proof: {log: '(a'}",
            "m.yml:6: secrets.nats_password.consumers.nats.proof.log: not a valid RE2",
        ),
    ],
)
def test_bad_reload_or_proof_is_one_line_with_its_key_path(reload: str, message: str) -> None:
    assert error_of(BASE.replace("RELOAD", reload)).startswith(message)


def test_a_probe_is_only_for_restart_rotations() -> None:
    text = BASE.replace("RELOAD", "env: X_FILE").replace(
        "kind: password", "kind: password\n    rotation: rolling\n    probe: ['true']"
    )
    assert error_of(text).startswith("m.yml:6: secrets.nats_password.probe: only for rotation")


@pytest.mark.parametrize("how", ["reload: {signal: SIGHUP}", "reload: {exec: [nats-server]}"])
def test_every_plan_refuses_a_reload_a_bind_mount_cannot_show(how: str) -> None:
    """A Compose file secret is a bind mount of one version file: a signal would make the
    process re-read the OLD file, so no plan may offer it as applying the new version."""
    m = manifest(f"{how}, proof: {{log: Reloaded}}")
    with pytest.raises(ConfigError) as info:
        plan_restart(m, "nats_password", {}, (), source="input")
    text = str(info.value)
    assert "secrets.nats_password.consumers.nats.reload:" in text
    assert "cannot apply a new version at /run/secrets/nats_auth.conf" in text
    assert "set `target: /run/secrets/nats/nats_auth.conf`" in text
    assert "use `reload: restart`" in text
    rolling = BASE.replace("RELOAD", f"{how}, proof: {{log: R}}").replace(
        "kind: password",
        "kind: password\n    rotation: rolling\n    provision: {kind: postgres, service: nats}",
    )
    with pytest.raises(ConfigError, match="cannot apply a new version"):
        plan_db(parse_manifest_text(rolling, "m.yml"), "nats_password", {}, ())


def test_hmac_plan_refuses_a_live_reload_too() -> None:
    text = """version: 1
secrets:
  h:
    kind: hex
    bytes: 32
    rotation: hmac
    secondary_env: H2_FILE
    consumers:
      s: {env: H_FILE, role: signer}
      l: {env: H_FILE, role: listener, reload: {signal: SIGHUP}, proof: {log: x}}
"""
    with pytest.raises(ConfigError, match=r"consumers\.l\.reload: signal SIGHUP cannot apply"):
        plan_hmac(parse_manifest_text(text, "m.yml"), "h", {}, (), "tok")


def test_a_consumer_proof_follows_its_verify_in_a_restart_plan() -> None:
    m = manifest("env: X_FILE, proof: {log: 'auth ok', probe: [nats-server, --help]}")
    plan = plan_restart(m, "nats_password", {}, (), source="input")
    actions = [(s.action, getattr(s, "services", getattr(s, "service", None))) for s in plan.steps]
    i = actions.index(("verify", ("nats",)))
    assert plan.steps[i + 1] == CheckLog("nats", "auth ok")
    assert plan.steps[i + 2] == Probe("nats", ("nats-server", "--help"))


def test_an_exchange_group_probe_runs_in_every_consumer_after_its_verify() -> None:
    m = parse_manifest_text(EXCHANGE, "m.yml")
    plan = plan_exchange(m, "binance", {}, {})
    probe = ("python3", "-m", "standin", "test-order", "binance")
    a = plan.steps.index(Verify(("a",)))
    assert plan.steps[a + 1 : a + 3] == (CheckLog("a", "Exchange connected"), Probe("a", probe))
    b = plan.steps.index(Verify(("b",)))
    assert plan.steps[b + 1 : b + 5] == (
        CheckLog("b", "Exchange connected"),
        CheckLog("b", "ready"),
        Probe("b", probe),
        Probe("b", ("true",)),
    )
    # the rollback looks for the same proofs, never requiring them
    reached = plan.steps[:5]
    now = apply_steps({}, reached)
    undo = rollback_steps(m, "exchange", plan.secrets, plan.initial, now, reached)
    assert Probe("a", probe, required=False) in undo


def test_the_journal_keeps_reload_proof_and_probe() -> None:
    m = parse_manifest_text(EXCHANGE, "m.yml")
    for spec in m.secrets.values():
        assert spec_from_dict(spec_to_dict(spec)) == spec
    live = manifest("reload: {exec: [nats-server, --signal, reload]}, proof: {log: R}")
    spec = live.secrets["nats_password"]
    assert spec_from_dict(spec_to_dict(spec)) == spec
    step = Probe("b", ("true", "x"), required=False)
    assert step_from_dict(step_to_dict(step)) == step
    plain = manifest("env: X_FILE").secrets["nats_password"]
    assert "reload" not in str(spec_to_dict(plain))  # an old journal's shape is unchanged
    bad = spec_to_dict(spec)
    bad["consumers"][0]["reload"] = {"exec": ["a\nb"]}
    with pytest.raises(ValueError):
        spec_from_dict(bad)


@pytest.mark.parametrize("how", ["reload: {signal: SIGHUP}", "reload: {exec: [nats-server]}"])
def test_a_reload_of_a_file_in_its_own_directory_is_planned_and_mounted_live(how: str) -> None:
    """Its directory is bind-mounted (core/livemount.py): a new version renamed into it reaches
    the running container, so the plan repoints it and waits for its proof; the overlay mounts
    the directory, not the file."""
    from titan_deploy.core.overlay import plan_overlay, render_overlay
    from titan_deploy.core.rotation import CheckLog, Repoint

    text = BASE.replace("/run/secrets/nats_auth.conf", "/run/secrets/nats/auth.conf")
    m = manifest_text(text.replace("RELOAD", f"{how}, proof: {{log: Reloaded}}"))
    plan = plan_restart(m, "nats_password", {}, (), source="input")
    kinds = [type(step).__name__ for step in plan.steps]
    assert "Repoint" in kinds and CheckLog("nats", "Reloaded") in plan.steps
    assert any(isinstance(s, Repoint) and s.services == ("nats",) for s in plan.steps)
    overlay = render_overlay(plan_overlay(m))
    nats = overlay[overlay.index('"nats":') : overlay.index('"titan-brain":')]
    assert '"./secrets/.live/nats/nats_password"' in nats
    assert 'target: "/run/secrets/nats"' in nats and "read_only: true" in nats
    assert "secrets: []" in nats  # the file itself is not mounted


def manifest_text(text: str):
    return parse_manifest_text(text, "m.yml")
