"""Marketer templates run sandboxed and bounded; errors name template, line and variable."""

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, FieldViolation, RenderError
from brandcast.v1 import campaign_pb2

SMS_FIELD = "channels.sms.template"


def _sms_error(spec: campaign_pb2.CampaignSpec, template: str, **attributes: str) -> FieldViolation:
    spec.channels.sms.template = template
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec).sms(campaign_pb2.Recipient(id="r1", attributes=attributes))
    assert len(info.value.violations) == 1
    return info.value.violations[0]


@pytest.mark.parametrize(
    "template",
    [
        "{{ recipient.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ recipient|attr('__class__') }}",
        "{{ '{0.__class__}'.format(recipient) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ recipient.attributes.update({'a': 1}) }}",
        "{{ message.mro() }}",
    ],
)
def test_templates_cannot_reach_python_internals(
    spec: campaign_pb2.CampaignSpec, template: str
) -> None:
    violation = _sms_error(spec, "{{ recipient.name }}" + template)
    assert violation.field == SMS_FIELD
    assert violation.description.startswith("line 1: ")
    assert "unsafe" in violation.description or "has no attribute" in violation.description


def test_syntax_error_names_template_and_line(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.html = "<p>ok</p>\n<p>ok</p>\n{% if recipient.name %}\n<p>"
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    [violation] = info.value.violations
    assert violation.field == "channels.email.templates.html"
    assert violation.description.startswith("line 4: ")
    assert "endif" in violation.description


def test_every_broken_template_is_reported_at_once(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.subject = "{{ oops"
    spec.channels.sms.template = "{% for %}"
    spec.channels.social.template = "{{ recipient.name }}"  # no recipient in a post
    spec.core_message.cta_url = "ftp://acme.example"
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    fields = [v.field for v in info.value.violations]
    assert sorted(fields) == [
        "channels.email.templates.subject",
        "channels.sms.template",
        "channels.social.template",
        "core_message.cta_url",
    ]
    social = next(v for v in info.value.violations if v.field == "channels.social.template")
    assert "'recipient' is undefined" in social.description


def test_undefined_attribute_names_variable_and_line(spec: campaign_pb2.CampaignSpec) -> None:
    violation = _sms_error(spec, "Hi\n{{ recipient.name }}\n{{ recipient.attributes.nmae }}")
    assert violation == FieldViolation(
        SMS_FIELD, "line 3: 'recipient.attributes' has no attribute 'nmae'"
    )


def test_attribute_present_for_one_recipient_only(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.sms.template = "Your code {{ recipient.attributes.code }}"
    renderer = CampaignRenderer(spec)
    ok = renderer.sms(campaign_pb2.Recipient(id="a", attributes={"code": "X1"}))
    assert ok.variant.text.startswith("Your code X1")
    with pytest.raises(RenderError) as info:
        renderer.sms(campaign_pb2.Recipient(id="b"))
    assert "'code'" in str(info.value)


def test_unknown_top_level_variable_is_found_at_submit(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.sms.template = "Hi\n{{ recipeint.name }}"
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    [violation] = info.value.violations
    assert violation.field == SMS_FIELD
    assert violation.description.startswith("line 2: 'recipeint' is undefined")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "range() of 1000000000 items"),
        (
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
            "range() of 9000 items",
        ),
        ("{{ 'x' * 10**9 }}", "over the limit"),
        ("{{ 2 ** 100000 }}", "too large"),
        ("{{ 'a'|center(10**9) }}", "width"),
        ("{{ '%999999999s'|format('a') }}", "format widths"),
        ("{{ '{:>999999999}'.format('a') }}", "format widths"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(25) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "over the limit of 1000000",
        ),
        ("{% for i in range(5000) %}{{ 'x' * 1000 }}{% endfor %}", "printed more than 1000000"),
    ],
)
def test_expensive_templates_fail_fast(
    spec: campaign_pb2.CampaignSpec, template: str, reason: str
) -> None:
    violation = _sms_error(spec, "{{ recipient.id }}" + template)
    assert violation.field == SMS_FIELD
    assert reason in violation.description


def test_runtime_errors_become_render_errors(spec: campaign_pb2.CampaignSpec) -> None:
    violation = _sms_error(spec, "{{ recipient.id }}\n{{ 1 / 0 }}")
    assert violation == FieldViolation(SMS_FIELD, "line 2: division by zero")


def test_html_templates_autoescape_recipient_data(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.html = "<p>Hi {{ recipient.name }}</p>"
    email = CampaignRenderer(spec).email(
        campaign_pb2.Recipient(id="r", name="<script>alert(1)</script>")
    )
    assert "<script>" not in email.variant.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.variant.html
