"""A consumer that reads one secret under several env names keeps all of them through a rotation:
the journal carries them, the overlay rendered mid-rotation sets each, a change of them is a
manifest change."""

from __future__ import annotations

import json

from titan_deploy.core.manifest import Consumer, SecretSpec
from titan_deploy.core.rotation.codec import spec_from_dict, spec_to_dict
from titan_deploy.core.rotation.manifestchange import _envs, _spec_changes


def _spec(*envs: str) -> SecretSpec:
    consumer = Consumer(service="titan-brain", env=envs[0], role=None, also=tuple(envs[1:]))
    return SecretSpec(
        name="titan_db_password", kind="password", rotation="rolling", consumers=(consumer,)
    )


def test_journal_keeps_every_env_name():
    spec = _spec("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    stored = json.loads(json.dumps(spec_to_dict(spec)))
    assert stored["consumers"][0]["also"] == ["DB_PASSWORD_FILE"]
    back = spec_from_dict(stored)
    assert back.consumers[0].envs == ("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")


def test_single_env_journal_entry_unchanged():
    stored = spec_to_dict(_spec("TITAN_DB_PASSWORD_FILE"))
    assert "also" not in stored["consumers"][0]


def test_overlay_mid_rotation_sets_each_env_name():
    spec = _spec("TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE")
    assert {"TITAN_DB_PASSWORD_FILE", "DB_PASSWORD_FILE"} <= set(_envs(spec, spec.consumers[0]))


def test_a_changed_env_name_list_is_a_manifest_change():
    changes = _spec_changes(_spec("A_FILE", "B_FILE"), _spec("A_FILE"))
    assert any("env vars changed from A_FILE, B_FILE to A_FILE" in c for c in changes)


def test_every_consumer_is_compared_after_an_env_change():
    first = Consumer(service="a", env="A_FILE", role=None, also=("B_FILE",))
    second = Consumer(service="b", env="X_FILE", role=None)
    frozen = SecretSpec(name="s", kind="password", rotation="rolling", consumers=(first, second))
    now = SecretSpec(
        name="s",
        kind="password",
        rotation="rolling",
        consumers=(
            Consumer(service="a", env="A_FILE", role=None),
            Consumer(service="b", env="Y_FILE", role=None),
        ),
    )
    changes = _spec_changes(frozen, now)
    assert any(c.startswith("a's env vars changed") for c in changes)
    assert any(c.startswith("b's env var changed from X_FILE to Y_FILE") for c in changes)
