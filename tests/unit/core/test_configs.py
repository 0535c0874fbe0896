"""Config files rendered from a sandboxed template (core/configs.py, README "Config files"):
the render itself, undeclared inputs, and that no error ever quotes an input's value."""

from __future__ import annotations

import secrets

import pytest

from tests.canary import assert_no_canary
from titan_deploy.core.configs import TemplateProblem, referenced, render
from titan_deploy.core.manifest import parse_manifest_text
from titan_deploy.core.rotation.codec import spec_from_dict, spec_to_dict


def canary() -> bytes:
    return f"Cfg-{secrets.token_urlsafe(24)}".encode()


def test_renders_the_inputs_into_the_text() -> None:
    value = canary()
    out = render("redis.conf.j2", "port 6379\nrequirepass {{ pw | tojson }}\n", {"pw": value})
    assert out == b'port 6379\nrequirepass "' + value + b'"\n'


def test_an_undeclared_name_is_a_problem_naming_it() -> None:
    with pytest.raises(TemplateProblem) as info:
        referenced("t.j2", "{{ pw }} {{ other }}", ["pw"])
    assert info.value.code == "undeclared"
    assert "other" in info.value.message


@pytest.mark.parametrize(
    "source",
    [
        "{{ pw[pw] }}",  # UndefinedError quoting the value as an attribute name
        "{{ {}[pw] }}",
        "{{ pw | attr(pw) }}",
        "{{ pw.foo() }}",
        "{{ pw + 1 }}",
        "{{ pw | int(pw) }}{{ 1 / 0 }}",
        "{{ pw * 100000000 }}",
        "{{ pw.__class__.__mro__ }}",
        "{% for c in pw %}{{ c[pw] }}{% endfor %}",
        "{{ (pw ~ pw) | list | join(pw) | sum }}",
        "{{ pw | string | float(pw) / 0 }}",
        "{{ pw | urlencode | b64decode }}",
        "{% if pw %",
    ],
)
def test_no_error_of_a_template_quotes_a_value(source: str) -> None:
    value = canary()
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", source, {"pw": value})
    assert info.value.code == "render"
    assert info.value.message.startswith("t.j2:")
    assert_no_canary({"pw": value}, [info.value.message, repr(info.value), str(info.value.args)])


def test_the_sandbox_sees_no_globals() -> None:
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", "{{ range(3) | list }}", {"pw": canary()})
    assert info.value.code == "undeclared"


def test_a_config_round_trips_through_the_journal() -> None:
    manifest = parse_manifest_text(MANIFEST)
    spec = manifest.secrets["redis_conf"]
    assert spec.is_config and spec.inputs == ("redis_password",)
    assert spec_from_dict(spec_to_dict(spec)) == spec
    assert manifest.configs_using(["redis_password"]) == ("redis_conf",)
    assert not manifest.secrets["redis_password"].is_config


MANIFEST = """\
version: 1
secrets:
  redis_password: {kind: password, generate: true, consumers: {app: REDIS_PASSWORD_FILE}}
configs:
  redis_conf:
    template: templates/redis.conf.j2
    inputs: [redis_password]
    file: redis.conf
    consumers: {redis: {target: /run/secrets/redis.conf}}
"""
