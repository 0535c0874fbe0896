"""Config files rendered from a sandboxed template (core/configs.py, README "Config files"):
the render itself, undeclared inputs, and that no error ever quotes an input's value."""

from __future__ import annotations

import secrets

import pytest

from tests.canary import assert_no_canary
from tests.projectkit import with_redis_conf
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


@pytest.mark.parametrize(
    ("source", "form"),
    [
        ("{{ {}[pw|upper] }}", lambda v: v.upper()),
        ("{{ {}[pw|lower] }}", lambda v: v.lower()),
        ("{{ {}[pw[::-1]] }}", lambda v: v[::-1]),
        ("{{ {}[pw[:7]] }}", lambda v: v[:7]),
        ("{{ {}[pw[7:14]] }}", lambda v: v[7:14]),
        ('{{ {}[pw|list|join("-")] }}', lambda v: "-".join(v)),
        ("{{ {}[pw|replace('-', '')] }}", lambda v: v.replace("-", "")),
        ("{{ {}[pw|length] }}", lambda v: f" {len(v)}"),
    ],
)
def test_no_error_quotes_a_transformed_value(source: str, form) -> None:
    """A value reaches Jinja's detail transformed as often as whole; the redactor of the values
    alone let these through (`'dict object' has no attribute 'CFG-...'`)."""
    value = canary()
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", source, {"pw": value})
    assert form(value.decode()) not in info.value.message
    assert "detail withheld" in info.value.message


def test_no_error_quotes_a_number_computed_from_a_value() -> None:
    number = str(secrets.randbelow(10**15) + 10**15)
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", "{{ {}[pin|int + 1] }}", {"pin": number.encode()})
    assert str(int(number) + 1) not in info.value.message
    assert "detail withheld" in info.value.message


def test_a_detail_quoting_only_the_template_is_kept() -> None:
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", "{{ pw.nope }}", {"pw": canary()})
    assert "has no attribute 'nope'" in info.value.message
    with pytest.raises(TemplateProblem) as info:
        render("t.j2", "{{ {}['abc'] }}", {"pw": canary()})
    assert "'dict object' has no attribute 'abc'" in info.value.message


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


MANIFEST = with_redis_conf(
    "version: 1\nsecrets:\n"
    "  redis_password: {kind: password, generate: true, consumers: {app: REDIS_PASSWORD_FILE}}\n"
)
