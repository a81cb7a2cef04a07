"""Email variants: branded inlined HTML, text twin, unsubscribe, escaping, overrides."""

import re

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.v1 import campaign_pb2, variant_pb2

LINK = "https://acme.example/sale?utm_source=email&amp;utm_medium=email&amp;utm_campaign=spring-sale-2026"


def _email(
    spec: campaign_pb2.CampaignSpec,
    unsubscribe_url: str = "",
    *,
    name: str = "",
    locale: str = "",
) -> variant_pb2.EmailVariant:
    recipient = campaign_pb2.Recipient(id="r1", name=name, locale=locale)
    return CampaignRenderer(spec).email(recipient, unsubscribe_url=unsubscribe_url).variant


def test_branded_html_with_inlined_css(spec: campaign_pb2.CampaignSpec) -> None:
    email = _email(spec, name="Ann")
    html = email.html
    assert html.startswith("<!DOCTYPE html>")
    assert '<img src="https://acme.example/logo.png" alt="Acme"' in html
    assert f'href="{LINK}"' in html
    assert ">Shop now</a>" in html
    assert "background-color: #0a7d5a" in html  # the brand color on the CTA button
    # Styles are inlined; only the responsive @media rules stay in a <style> block.
    assert 'class="content" style="padding:' in html
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style.strip().startswith("@media")
    assert "<table" in html
    assert 'role="presentation"' in html
    assert "You get this because you subscribed." in html
    assert "1 Main St, Springfield" in html
    assert email.to_name == "Ann"
    assert (email.from_name, email.from_address) == ("Acme News", "news@acme.example")


def test_subject_and_preheader_defaults(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.body = "word " * 60
    email = _email(spec)
    assert email.subject == "Spring sale"
    assert email.preheader.endswith("…")
    assert len(email.preheader) <= 101
    assert f">{email.preheader}</div>" in email.html


def test_settings_subject_and_preheader(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.subject = "Only this week"
    spec.channels.email.preheader = "Don't miss it"
    email = _email(spec)
    assert (email.subject, email.preheader) == ("Only this week", "Don't miss it")
    assert "Don&#39;t miss it" in email.html


def test_unsubscribe_argument_wins_over_settings(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.unsubscribe_mailto = "mailto:unsubscribe@acme.example"
    email = _email(spec, unsubscribe_url="https://acme.example/u/token-1?a=1&b=2")
    assert email.list_unsubscribe_url == "https://acme.example/u/token-1?a=1&b=2"
    assert email.list_unsubscribe_mailto == "mailto:unsubscribe@acme.example"
    assert 'href="https://acme.example/u/token-1?a=1&amp;b=2"' in email.html
    assert "utm_source" not in email.list_unsubscribe_url
    assert "Unsubscribe: https://acme.example/u/token-1?a=1&b=2" in email.text
    default = _email(spec)
    assert default.list_unsubscribe_url == "https://acme.example/unsubscribe"


def test_text_alternative_has_the_same_content(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.body = "First paragraph.\n\nSecond & <last>."
    email = _email(spec)
    assert email.text.startswith("Spring sale\n\nFirst paragraph.\n\nSecond & <last>.\n")
    assert "Shop now: https://acme.example/sale?utm_source=email&utm_medium=email" in email.text
    assert "1 Main St, Springfield" in email.text
    assert "<p" not in email.text
    assert '<p style="margin: 0 0 16px 0;">Second &amp; &lt;last&gt;.</p>' in email.html


def test_user_data_is_escaped_everywhere(spec: campaign_pb2.CampaignSpec) -> None:
    spec.brand_kit.name = 'Acme "<b>'
    spec.brand_kit.legal_footer = "<script>x()</script>"
    spec.core_message.headline = "<img src=x onerror=alert(1)>"
    spec.core_message.cta_text = "</a><a href='evil'>"
    html = _email(spec).html
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "<a href='evil'>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_subject_has_no_newlines(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.subject = "Hi {{ recipient.name }}\r\nBcc: evil@x.example"
    email = _email(spec, name="Ann")
    assert email.subject == "Hi Ann Bcc: evil@x.example"


def test_personal_html_override_is_rendered_per_recipient(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.channels.email.templates.html = (
        "<h1>Hi {{ recipient.name }}</h1><p>Your tier: {{ recipient.attributes.tier }}</p>"
        '<a href="https://acme.example/tier?t={{ recipient.attributes.tier }}">See</a>'
    )
    renderer = CampaignRenderer(spec)
    ann = renderer.email(campaign_pb2.Recipient(name="Ann", attributes={"tier": "gold"}))
    bob = renderer.email(campaign_pb2.Recipient(name="Bob", attributes={"tier": "silver"}))
    assert "Hi Ann" in ann.variant.html
    assert "Your tier: gold" in ann.variant.html
    assert "Hi Bob" in bob.variant.html
    assert "Hi Ann" not in bob.variant.html
    # Links in the marketer's HTML are tracked and the layout CSS applies to it.
    assert (
        'href="https://acme.example/tier?t=silver&amp;utm_source=email&amp;utm_medium=email'
        in bob.variant.html
    )
    assert '<h1 style="margin: 0 0 16px 0;' in bob.variant.html
    assert "1 Main St, Springfield" in bob.variant.html


def test_locale_picks_translation(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.translations["fr"].headline = "Soldes de printemps"
    spec.core_message.translations["fr"].cta_text = "Acheter"
    email = _email(spec, locale="fr-CA")
    assert email.subject == "Soldes de printemps"
    assert '<html lang="fr">' in email.html
    assert ">Acheter</a>" in email.html
    assert "Se désabonner" in email.html
    assert "Everything is 20% off this week." in email.html  # body falls back


def test_missing_sender_and_postal_address_are_violations(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.brand_kit.email_sender.address = "not-an-address"
    spec.brand_kit.postal_address = ""
    spec.brand_kit.primary_color = "green"
    spec.channels.email.unsubscribe_url = "/relative"
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    fields = {v.field for v in info.value.violations}
    assert fields == {
        "brand_kit.email_sender.address",
        "brand_kit.postal_address",
        "brand_kit.primary_color",
        "channels.email.unsubscribe_url",
    }
