"""An e-mail sent as its layout and slot values (``BUS_SHARED_EMAIL_LAYOUTS``) is,
byte for byte, the e-mail rendered whole: whatever the templates, locale and recipient."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.orchestrator.laid_out_emails import BatchLayouts
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.shared import email_layouts
from brandcast.v1 import bus_pb2, campaign_pb2

TEXT = st.text(st.characters(codec="utf-8"), max_size=60)


def _round_trip(
    renderer: CampaignRenderer, recipients: list[campaign_pb2.Recipient], unsubscribe: str
) -> bus_pb2.DispatchBatch:
    """A batch packed as the dispatcher packs it, parsed again as an adapter reads it."""
    batch = bus_pb2.DispatchBatch(batch_id=str(uuid.uuid4()), campaign_id="c1")
    layouts = BatchLayouts(batch)
    for recipient in recipients:
        layouts.add(
            batch.items.add(delivery_id=recipient.id).laid_out_email,
            renderer.email_laid_out(recipient, unsubscribe_url=unsubscribe),
        )
    return bus_pb2.DispatchBatch.FromString(batch.SerializeToString())


def _assert_same(
    spec: campaign_pb2.CampaignSpec,
    recipients: list[campaign_pb2.Recipient],
    unsubscribe: str = "https://u.example/token",
) -> bus_pb2.DispatchBatch:
    renderer = CampaignRenderer(spec, campaign_id="c1")
    batch = _round_trip(renderer, recipients, unsubscribe)
    for recipient, item in zip(recipients, batch.items, strict=True):
        whole = renderer.email(recipient, unsubscribe_url=unsubscribe).variant
        html, text = email_layouts.bodies(batch, item.laid_out_email)
        assert (html, text) == (whole.html, whole.text)
        assert not item.laid_out_email.variant.html
        item.laid_out_email.variant.html = html
        item.laid_out_email.variant.text = text
        assert item.laid_out_email.variant == whole
    return batch


def _people(*locales: str) -> list[campaign_pb2.Recipient]:
    return [
        campaign_pb2.Recipient(
            id=f"r{i}", name=f"Person {i}", email=f"p{i}@example.com", locale=locale
        )
        for i, locale in enumerate(locales)
    ]


def test_built_in_layout_one_per_locale(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.translations["fr"].headline = "Soldes de printemps"
    spec.core_message.translations["fr"].body = "Tout à -20 % cette semaine."
    batch = _assert_same(spec, _people("en", "fr-CA", "", "fr", "de"))
    # English (the default, also for "" and "de") and French: two layouts.
    assert len(batch.email_layouts) == 2
    assert [i.laid_out_email.layout for i in batch.items] == [0, 1, 0, 1, 0]


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("html", "<h1>Hi {{ recipient.name }}</h1><p>{{ message.body }}</p>"),
        ("text", "Hi {{ recipient.name }}, {{ message.body }} {{ unsubscribe_url }}"),
        ("subject", "{{ recipient.name }}, {{ message.headline }}"),
        ("preheader", "Only for {{ recipient.name }} & friends"),
    ],
)
def test_personal_templates(spec: campaign_pb2.CampaignSpec, field: str, template: str) -> None:
    setattr(spec.channels.email.templates, field, template)
    _assert_same(spec, _people("en", "en", "fr"))


def test_without_an_unsubscribe_link_and_with_a_mailto(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.unsubscribe_url = ""
    _assert_same(spec, _people("en"), unsubscribe="")
    spec.channels.email.unsubscribe_mailto = "mailto:unsubscribe@acme.example"
    _assert_same(spec, _people("en"), unsubscribe="")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=TEXT, segment=TEXT, body=TEXT.filter(str.strip), preheader=TEXT)
def test_any_recipient_and_content(
    spec: campaign_pb2.CampaignSpec, name: str, segment: str, body: str, preheader: str
) -> None:
    spec.core_message.body = body
    spec.channels.email.preheader = preheader
    spec.channels.email.templates.html = (
        "<p>{{ recipient.name }} ({{ recipient.segment }})</p>{{ message.body }}"
    )
    person = campaign_pb2.Recipient(id="r1", name=name, segment=segment, email="p@example.com")
    _assert_same(spec, [person])
