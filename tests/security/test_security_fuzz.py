"""Scenario 17: hypothesis fuzzes the renderer and the request validators with
hostile text; nothing but the documented errors may come out.

Documented: ``RenderError`` from the renderer (naming a field), a list of
``FieldViolation`` from ``validate_spec`` / ``RecipientChecker``, and
``InvalidCampaignError`` from the intake.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.orchestrator.errors import InvalidCampaignError
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.validation import RecipientChecker, validate_spec
from brandcast.v1 import campaign_pb2, campaign_service_pb2
from tests.faults.rig import sms_spec

JINJA_BITS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "recipient.name",
    "recipient.attributes",
    "message.headline",
    "link",
    "__class__",
    "|attr('__init__')",
    "|format(",
    "range(",
    "**",
    "*",
    "~",
    "for x in",
    "endfor",
    "if",
    "endif",
    "cycler",
    "lipsum(",
    "namespace(",
    "'",
    '"',
    ")",
    "(",
    "[",
    "]",
    "\r\n",
    "<script>",
    "\x00",
    "\ud7ff",
    "🎉",
]
template_text = st.lists(
    st.one_of(st.sampled_from(JINJA_BITS), st.text(max_size=8)), max_size=14
).map("".join)
hostile_text = st.one_of(st.text(max_size=60), template_text)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spec_with(template: str, name: str, phone: str, email: str) -> campaign_pb2.CampaignSpec:
    spec = sms_spec(1)
    spec.channels.sms.template = template
    spec.channels.email.enabled = True
    spec.brand_kit.email_sender.address = "news@acme.example.com"
    spec.brand_kit.postal_address = "1 Market St, San Francisco"
    spec.channels.email.templates.subject = template
    spec.audience[0].name = name
    spec.audience[0].phone = phone
    spec.audience[0].email = email or "a@example.com"
    spec.audience[0].attributes["tier"] = name
    return spec


@FUZZ
@given(template=template_text, name=hostile_text)
def test_renderer_raises_only_render_errors(template: str, name: str) -> None:
    spec = spec_with(template, name, "+14155550101", "a@example.com")
    try:
        renderer = CampaignRenderer(spec, campaign_id="fuzz")
        renderer.preview(spec.audience)
    except RenderError as error:
        violations = error.violations
    else:
        violations = []
    assert all(v.field and v.description for v in violations)


@FUZZ
@given(name=hostile_text, phone=hostile_text, email=hostile_text, url=hostile_text)
def test_validators_return_violations_only(name: str, phone: str, email: str, url: str) -> None:
    spec = spec_with("", name, phone, email)
    spec.core_message.cta_url = url
    spec.brand_kit.primary_color = name[:9]
    violations = validate_spec(spec)
    assert all(v.field.startswith("spec") for v in violations)
    checked = RecipientChecker(spec.channels).check(spec.audience[0], "spec.audience[0]")
    if isinstance(checked, list):
        assert all(v.field.startswith("spec.audience[0]") for v in checked)


def test_intake_refuses_or_accepts_only(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'fuzz.db'}")
    intake = CampaignIntake(store)
    outcomes = {"accepted": 0, "invalid": 0, "unnamed": 0}

    @FUZZ
    @given(template=template_text, name=hostile_text, phone=hostile_text, email=hostile_text)
    def submit(template: str, name: str, phone: str, email: str) -> None:
        spec = spec_with(template, name, phone, email)
        try:
            intake.submit(campaign_service_pb2.SubmitCampaignRequest(spec=spec))
            outcomes["accepted"] += 1
        except InvalidCampaignError as error:
            named = all(v.field and v.description for v in error.violations)
            outcomes["invalid" if error.violations and named else "unnamed"] += 1

    try:
        submit()
    finally:
        store.close()
    print(f"\nscenario=17 intake_examples={sum(outcomes.values())} {outcomes} other_errors=0")
    assert outcomes["invalid"] > 0
    assert outcomes["unnamed"] == 0
