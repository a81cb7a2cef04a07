"""Safe, encoded, tracked links in every part of an email; readable colours; one footer."""

import re

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.rendering._contrast import contrast_ratio
from brandcast.orchestrator.rendering._html_links import (
    _parsed_layout,
    rewrite_layout_links,
    rewrite_links,
)
from brandcast.orchestrator.rendering._links import Utm
from brandcast.v1 import campaign_pb2, variant_pb2

UTM = Utm("email", "email", "spring")


def _email(spec: campaign_pb2.CampaignSpec, **recipient: object) -> variant_pb2.EmailVariant:
    renderer = CampaignRenderer(spec)
    person = campaign_pb2.Recipient(id="r1", **recipient)  # type: ignore[arg-type]
    return renderer.email(person, unsubscribe_url="https://acme.example/u/t").variant


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/x",
    ],
)
def test_a_javascript_url_from_recipient_data_never_reaches_an_href(
    spec: campaign_pb2.CampaignSpec, url: str
) -> None:
    spec.channels.email.templates.html = '<a href="{{ recipient.attributes.site }}">site</a>'
    html = _email(spec, attributes={"site": url}).html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("https://", "http://", "mailto:", "tel:", "#")) for h in hrefs)
    assert ">site</a>" in html  # the link text stays, without the link


def test_allowed_schemes_stay_and_http_links_are_tracked() -> None:
    document = (
        '<a href="mailto:hi@acme.example">m</a><a href="tel:+14155550100">t</a>'
        '<a href="#top">a</a><a href="https://bücher.example/straße">b</a>'
        '<img src="cid:logo"><img src="javascript:x"><img src="https://acme.example/ü.png">'
    )
    out = rewrite_links(document, UTM)
    assert 'href="mailto:hi@acme.example"' in out
    assert 'href="tel:+14155550100"' in out
    assert 'href="#top"' in out
    assert (
        'href="https://xn--bcher-kva.example/stra%C3%9Fe?utm_source=email&amp;utm_medium=email'
        in out
    )
    assert '<img src="cid:logo">' in out
    assert "<img>" in out  # the javascript: source is gone
    assert 'src="https://acme.example/%C3%BC.png"' in out


def test_a_layout_sent_again_gets_the_new_campaigns_utm(spec: campaign_pb2.CampaignSpec) -> None:
    # The layout's parse is cached: the same message sent by two campaigns differs
    # only in the UTM campaign name, which must never leak from one to the other.
    spec.name = "Spring sale"
    first = _email(spec).html
    parsed = _parsed_layout.cache_info().misses
    spec.name = "Autumn sale"
    second = _email(spec).html
    assert _parsed_layout.cache_info().misses == parsed  # the layout was not parsed again
    assert "utm_campaign=spring-sale" in first
    assert "utm_campaign=autumn-sale" in second
    assert "spring-sale" not in second
    assert second == first.replace("utm_campaign=spring-sale", "utm_campaign=autumn-sale")


def test_a_cached_parse_writes_the_same_document_as_a_fresh_one() -> None:
    document = (
        '<a href="https://acme.example/a?x=1" onclick="x()" class="b">a</a>'
        '<img src="javascript:x" alt="&lt;b&gt;"><area href="https://acme.example/m">'
        "<script>alert(1)</script><br/><!-- note --><p>&amp; &#169;</p>"
    )
    for utm in (UTM, Utm("email", "email", "autumn"), None, UTM):
        assert rewrite_layout_links(document, utm) == rewrite_links(document, utm)


def test_script_and_event_handlers_are_dropped() -> None:
    out = rewrite_links('<p onclick="x()">a</p><script>alert(1)</script><b>b</b>', None)
    assert out == "<p>a</p><b>b</b>"


def test_escaping_survives_css_inlining(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.html = (
        '<p title="{{ recipient.name }}">Hi</p><img alt="{{ recipient.name }}" src="">'
    )
    html = _email(spec, name="<script>alert(1)</script>").html
    assert "<script>" not in html
    assert 'title="&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_a_headline_with_the_old_slot_marker_cannot_move_the_unsubscribe_link(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.core_message.headline = "Sale bc-slot-5e1f0c-unsubscribe bc-slot-5e1f0c-content"
    html = _email(spec).html
    title = re.search(r"<title>(.*?)</title>", html, re.DOTALL)
    assert title is not None
    assert "href" not in title.group(1)
    assert "bc-slot-5e1f0c-unsubscribe" in title.group(1)
    footer = html.split('class="footer"')[1]
    assert 'href="https://acme.example/u/t"' in footer


def test_links_in_the_text_template_are_tracked(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.email.templates.text = (
        "Hi {{ recipient.name }}, see https://acme.example/menu and https://bücher.example/x."
    )
    text = _email(spec, name="Ann").text
    assert "https://acme.example/menu?utm_source=email&utm_medium=email" in text
    assert "https://xn--bcher-kva.example/x?utm_source=email" in text
    assert "Unsubscribe: https://acme.example/u/t\n" in text  # the unsubscribe link is not


def test_non_ascii_urls_are_encoded_in_every_channel(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.cta_url = "https://bücher.example/frühling?wahl=süß"
    spec.core_message.body = "Also https://café.example/menü today."
    spec.channels.sms.segment_budget = 3
    renderer = CampaignRenderer(spec)
    encoded = "https://xn--bcher-kva.example/fr%C3%BChling?wahl=s%C3%BC%C3%9F"
    email = renderer.email(campaign_pb2.Recipient(id="r")).variant
    sms = renderer.sms(campaign_pb2.Recipient(id="r")).variant
    assert encoded in email.html
    assert encoded in email.text
    assert encoded in sms.text
    assert "https://xn--caf-dma.example/men%C3%BC" in sms.text
    for account in renderer.social_accounts():
        post = renderer.social(account).variant
        assert encoded in post.text
        assert "https://xn--caf-dma.example/men%C3%BC" in post.text
        assert post.text.isascii() or "bücher" not in post.text
        for facet in post.facets:
            assert facet.value.isascii()


def test_the_headline_is_readable_whatever_the_brand_colours(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.brand_kit.primary_color = "#fff3b0"  # pale yellow button
    spec.brand_kit.secondary_color = "#f4efe6"  # cream: 1.15:1 on white
    html = _email(spec).html
    [h1_color] = re.findall(r"<h1 style=\"[^\"]*color: (#[0-9a-f]{6})", html)
    assert contrast_ratio(h1_color, "#ffffff") >= 4.5
    [cta] = re.findall(r'<a class="cta"[^>]*style="([^"]*)"', html)
    label = re.search(r"(?<!-)color: (#[0-9a-f]{6})", cta)
    background = re.search(r"background-color: (#[0-9a-f]{6})", cta)
    assert label is not None
    assert background is not None
    assert contrast_ratio(label.group(1), background.group(1)) >= 4.5


def test_the_footer_names_the_brand_once(spec: campaign_pb2.CampaignSpec) -> None:
    spec.brand_kit.name = "Acme Coffee"
    spec.brand_kit.postal_address = "Acme Coffee, 1 Market St"
    email = _email(spec)
    assert "Acme Coffee · Acme Coffee" not in email.html.replace("&middot;", "·")
    assert email.html.count("Acme Coffee, 1 Market St") == 1
    assert "Acme Coffee, Acme Coffee" not in email.text


def test_preview_is_the_sent_email_with_a_placeholder_unsubscribe_link(
    spec: campaign_pb2.CampaignSpec,
) -> None:
    spec.channels.email.unsubscribe_url = ""
    renderer = CampaignRenderer(spec)
    recipient = campaign_pb2.Recipient(id="r1", email="ann@example.com")
    [preview] = [v for v in renderer.preview([recipient]) if v.HasField("email")]
    sent = renderer.email(recipient, unsubscribe_url="https://unsubscribe.invalid/preview")
    assert preview.email.html == sent.variant.html
    assert 'href="https://unsubscribe.invalid/preview"' in preview.email.html
    assert "Unsubscribe: https://unsubscribe.invalid/preview" in preview.email.text
