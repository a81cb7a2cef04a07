"""UTM tracking on every link and translation choice per locale."""

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.orchestrator.rendering._links import Utm, slugify
from brandcast.orchestrator.rendering._locale import ContentResolver
from brandcast.v1 import campaign_pb2


def test_defaults_are_channel_medium_and_campaign_slug() -> None:
    utm = Utm.for_channel(campaign_pb2.Tracking(), "Été 2026: -50%!", source="sms", medium="sms")
    assert utm.apply("https://a.example/p") == (
        "https://a.example/p?utm_source=sms&utm_medium=sms&utm_campaign=ete-2026-50"
    )
    assert slugify("Spring Sale 2026") == "spring-sale-2026"


def test_existing_query_and_explicit_utm_in_url_are_kept() -> None:
    utm = Utm.for_channel(campaign_pb2.Tracking(), "c", source="email", medium="email")
    url = "https://a.example/p?q=a%20b&utm_source=newsletter#top"
    assert utm.apply(url) == (
        "https://a.example/p?q=a%20b&utm_source=newsletter&utm_medium=email&utm_campaign=c#top"
    )


def test_spec_tracking_overrides_defaults_and_can_disable() -> None:
    tracking = campaign_pb2.Tracking(utm_source="crm", utm_campaign="q2")
    utm = Utm.for_channel(tracking, "c", source="email", medium="email")
    assert utm.apply("https://a.example/") == (
        "https://a.example/?utm_source=crm&utm_medium=email&utm_campaign=q2"
    )
    off = Utm.for_channel(campaign_pb2.Tracking(disabled=True), "c", source="x", medium="x")
    assert off.apply("https://a.example/") == "https://a.example/"
    assert utm.apply("mailto:a@b.example") == "mailto:a@b.example"


def test_every_channel_tracks_its_cta(spec: campaign_pb2.CampaignSpec) -> None:
    renderer = CampaignRenderer(spec)
    recipient = campaign_pb2.Recipient(id="r")
    assert "utm_source=email&amp;utm_medium=email" in renderer.email(recipient).variant.html
    assert "utm_source=sms&utm_medium=sms" in renderer.sms(recipient).variant.text
    for account in renderer.social_accounts():
        text = renderer.social(account).variant.text
        assert "utm_medium=social" in text


def test_tracking_disabled_leaves_links_alone(spec: campaign_pb2.CampaignSpec) -> None:
    spec.tracking.disabled = True
    renderer = CampaignRenderer(spec)
    recipient = campaign_pb2.Recipient(id="r")
    assert "utm_" not in renderer.email(recipient).variant.html
    assert "utm_" not in renderer.sms(recipient).variant.text


@pytest.mark.parametrize(
    ("locale", "headline"),
    [
        ("fr-CA", "fr"),
        ("FR_ca", "fr"),
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt"),
        ("pt", "pt"),
        ("de-DE", "default"),
        ("", "default"),
    ],
)
def test_locale_exact_then_language_then_default(locale: str, headline: str) -> None:
    core = campaign_pb2.CoreMessage(headline="default", body="b")
    for tag in ("fr", "pt", "pt-BR"):
        core.translations[tag].headline = tag
    assert ContentResolver(core, "en").for_locale(locale).headline == headline


def test_invalid_urls_are_violations(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.cta_url = "acme.example/sale"
    spec.core_message.image_url = "https://"
    spec.brand_kit.logo_url = "http://acme.example/logo.png"  # logos must be https
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    fields = {v.field: v.description for v in info.value.violations}
    assert set(fields) == {
        "core_message.cta_url",
        "core_message.image_url",
        "brand_kit.logo_url",
    }
    assert "absolute http(s) URL" in fields["core_message.cta_url"]


def test_no_channel_enabled_is_a_violation(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.enabled = False
    spec.channels.sms.enabled = False
    spec.channels.social.enabled = False
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    assert [v.field for v in info.value.violations] == ["channels"]


@pytest.mark.parametrize(
    "url",
    ["https://ex\u200dample.com/", "https://☃.com/", "http://[::1", "https://a.example:99999/"],
)
def test_a_url_that_cannot_be_encoded_is_a_violation_not_a_crash(
    spec: campaign_pb2.CampaignSpec, url: str
) -> None:
    spec.core_message.cta_url = url
    spec.core_message.image_url = url
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    fields = {v.field for v in info.value.violations}
    assert {"core_message.cta_url", "core_message.image_url"} <= fields
