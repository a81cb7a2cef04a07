"""Social posts: per-network counting, shortening, hashtags, Bluesky facets and cards."""

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.shared.text_counting import grapheme_length, graphemes, x_weighted_length
from brandcast.v1 import campaign_pb2, variant_pb2


def _post(
    spec: campaign_pb2.CampaignSpec, account_id: str
) -> tuple[variant_pb2.SocialVariant, list[str]]:
    renderer = CampaignRenderer(spec)
    account = next(a for a in renderer.social_accounts() if a.id == account_id)
    rendered = renderer.social(account)
    assert rendered.variant.length <= rendered.variant.limit
    return rendered.variant, [w.code for w in rendered.warnings]


def _link(network: str) -> str:
    return (
        "https://acme.example/sale?utm_source="
        f"{network}&utm_medium=social&utm_campaign=spring-sale-2026"
    )


def test_one_post_per_account_with_network_limits(spec: campaign_pb2.CampaignSpec) -> None:
    renderer = CampaignRenderer(spec)
    limits = {a.id: renderer.social(a).variant.limit for a in renderer.social_accounts()}
    assert limits == {"masto": 500, "sky": 300, "x": 280, "li": 3000}


def test_account_filter(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.social.account_ids.extend(["sky", "x"])
    assert [a.id for a in CampaignRenderer(spec).social_accounts()] == ["sky", "x"]


def test_unknown_account_id_is_a_violation(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.social.account_ids.append("nope")
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    assert "channels.social.account_ids[0]" in [v.field for v in info.value.violations]


def test_default_post_has_text_link_and_deduped_hashtags(spec: campaign_pb2.CampaignSpec) -> None:
    spec.brand_kit.default_hashtags.append("Spring")  # same tag as the core's, other case
    post, warnings = _post(spec, "masto")
    assert post.text == (
        f"Spring sale\n\nEverything is 20% off this week.\n\n{_link('mastodon')}\n\n#spring #acme"
    )
    assert post.visibility == "public"
    assert warnings == []
    # Mastodon counts every URL as 23 characters.
    assert post.length == len(post.text) - len(_link("mastodon")) + 23


def test_x_counts_cjk_double_and_urls_as_23(spec: campaign_pb2.CampaignSpec) -> None:
    assert x_weighted_length("a" * 280) == 280
    assert x_weighted_length("日本語" * 10) == 60
    assert x_weighted_length("see https://example.com/" + "p" * 100) == 4 + 23
    assert x_weighted_length("👨‍👩‍👧‍👦") == 2  # one emoji sequence weighs 2
    assert x_weighted_length("e\u0301") == 1  # NFC: é

    spec.core_message.headline = "春のセール"
    spec.core_message.body = "すべての商品が今週二十パーセント引きです。" * 20
    post, warnings = _post(spec, "x")
    assert post.length <= 280
    assert post.length == x_weighted_length(post.text)
    assert post.length > 250  # cut at a grapheme, not at the only space
    assert "social.truncated" in warnings
    assert "social.hashtags_dropped" in warnings
    assert _link("x") in post.text


def test_url_at_the_cut_point_is_kept_whole(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.cta_url = ""
    spec.core_message.cta_text = ""
    url = "https://acme.example/a-very-long-path/" + "segment/" * 10
    spec.core_message.body = "word " * 40 + url + " tail " * 40
    post, warnings = _post(spec, "sky")
    assert url in post.text
    assert "social.truncated" in warnings
    assert grapheme_length(post.text) <= 300
    links = [f for f in post.facets if f.kind == variant_pb2.Facet.KIND_LINK]
    assert [f.value for f in links] == [url]
    data = post.text.encode()
    assert data[links[0].byte_start : links[0].byte_end].decode() == url


def test_bluesky_facets_use_utf8_byte_offsets(spec: campaign_pb2.CampaignSpec) -> None:
    # Combining marks, a ZWJ family and RTL text all before the link and tags.
    spec.core_message.headline = "Cafe\u0301 👩‍👩‍👧 שלום עולם"
    spec.core_message.body = "مرحبا بالعالم"
    post, _ = _post(spec, "sky")
    data = post.text.encode("utf-8")
    by_value = {f.value: f for f in post.facets}
    link = by_value[_link("bluesky")]
    assert link.kind == variant_pb2.Facet.KIND_LINK
    assert data[link.byte_start : link.byte_end].decode() == _link("bluesky")
    for tag in ("spring", "acme"):
        facet = by_value[tag]
        assert facet.kind == variant_pb2.Facet.KIND_TAG
        assert data[facet.byte_start : facet.byte_end].decode() == f"#{tag}"
    assert post.length == grapheme_length(post.text)
    # The family is one grapheme, the combining accent joins its letter.
    assert grapheme_length("Cafe\u0301 👩‍👩‍👧") == 6


def test_bluesky_truncation_never_splits_a_grapheme(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.cta_url = ""
    spec.core_message.cta_text = ""
    spec.core_message.headline = ""
    spec.channels.email.enabled = False
    spec.core_message.body = "👩‍👩‍👧e\u0301" * 200  # no spaces at all
    post, warnings = _post(spec, "sky")
    assert "social.truncated" in warnings
    assert post.text.endswith("…")
    clusters = list(graphemes(post.text[:-1]))
    assert set(clusters) == {"👩‍👩‍👧", "e\u0301"}
    assert post.length == 300


def test_bluesky_gets_a_link_card(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.image_url = "https://acme.example/hero.jpg"
    post, _ = _post(spec, "sky")
    assert post.link_card.url == _link("bluesky")
    assert post.link_card.title == "Spring sale"
    assert post.link_card.description == "Everything is 20% off this week."
    assert post.link_card.image_url == "https://acme.example/hero.jpg"


def test_hashtags_are_dropped_when_they_do_not_fit(spec: campaign_pb2.CampaignSpec) -> None:
    spec.brand_kit.social_accounts[0].max_characters = 80
    spec.core_message.body = "x" * 30
    post, warnings = _post(spec, "masto")
    assert post.limit == 80
    assert warnings == ["social.hashtags_dropped"]
    assert "#spring" in post.text  # the first fits, the second does not
    assert "#acme" not in post.text


def test_mastodon_instance_limit_truncates(spec: campaign_pb2.CampaignSpec) -> None:
    spec.brand_kit.social_accounts[0].max_characters = 120
    spec.core_message.body = "Lots of words here. " * 30
    post, warnings = _post(spec, "masto")
    assert post.length <= 120
    assert "social.truncated" in warnings
    assert _link("mastodon") in post.text


def test_linkedin_gets_the_legal_footer(spec: campaign_pb2.CampaignSpec) -> None:
    post, _ = _post(spec, "li")
    assert "You get this because you subscribed." in post.text
    assert post.length == len(post.text)


def test_rtl_text_is_counted_by_characters_on_x(spec: campaign_pb2.CampaignSpec) -> None:
    spec.core_message.headline = "שלום"
    spec.core_message.body = "مرحبا"
    post, _ = _post(spec, "x")
    assert post.text.startswith("שלום\n\nمرحبا\n\n")
    assert post.length == x_weighted_length(post.text)


def test_social_template_override(spec: campaign_pb2.CampaignSpec) -> None:
    spec.channels.social.template = (
        "{{ message.headline|upper }} on {{ account.network }} {{ link }}"
    )
    post, _ = _post(spec, "x")
    assert post.text.startswith(f"SPRING SALE on x {_link('x')}")
