"""Properties over arbitrary content: variants always fit, only RenderError escapes."""

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.orchestrator.rendering._social_length import post_length
from brandcast.shared.text_counting import count_sms
from brandcast.v1 import campaign_pb2

# Protobuf strings cannot hold lone surrogates; everything else is fair game.
TEXT = st.text(st.characters(codec="utf-8"), max_size=400)
SHORT = st.text(st.characters(codec="utf-8"), max_size=40)
WORDY = st.lists(
    st.sampled_from(
        [
            "sale",
            "€",
            "{",
            "ΔΣ",
            "Ω",
            "日本語",
            "👩\u200d👩\u200d👧",
            "e\u0301",
            "שלום",
            "’",
            "—",
            "\n",
            "  ",
            "x" * 30,
        ]
    ),
    max_size=80,
).map(" ".join)
TEMPLATE_PIECES = st.sampled_from(
    [
        "{{ message.headline }}",
        "{{ message.body }}",
        "{{ recipient.name }}",
        "{{ recipient.attributes.a }}",
        "{{ link }}",
        "{{ opt_out }}",
        "{% if recipient.segment %}VIP{% endif %}",
        "{{ message.body|upper }}",
        "{{ 1/0 }}",
        "{{ ",
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        "plain text ",
        "€€€ ",
    ]
)
T = TypeVar("T")
HASHTAG = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@st.composite
def campaigns(draw: st.DrawFn) -> campaign_pb2.CampaignSpec:
    spec = campaign_pb2.CampaignSpec(name=draw(SHORT))
    kit = spec.brand_kit
    kit.name = draw(SHORT)
    kit.email_sender.address = "news@acme.example"
    kit.postal_address = "1 Main St"
    kit.default_hashtags.extend(draw(st.lists(HASHTAG, max_size=4)))
    kit.social_accounts.add(
        id="m",
        network=campaign_pb2.SOCIAL_NETWORK_MASTODON,
        max_characters=draw(st.sampled_from([0, 60, 200])),
    )
    kit.social_accounts.add(id="b", network=campaign_pb2.SOCIAL_NETWORK_BLUESKY)
    kit.social_accounts.add(id="x", network=campaign_pb2.SOCIAL_NETWORK_X)
    kit.social_accounts.add(id="l", network=campaign_pb2.SOCIAL_NETWORK_LINKEDIN)
    core = spec.core_message
    core.headline = draw(st.one_of(SHORT, WORDY))
    core.body = draw(st.one_of(TEXT, WORDY))
    if draw(st.booleans()):
        core.cta_url = "https://acme.example/" + draw(
            st.from_regex(r"[a-z0-9/]{0,60}", fullmatch=True)
        )
        core.cta_text = "Go"
    core.hashtags.extend(draw(st.lists(HASHTAG, max_size=5)))
    if draw(st.booleans()):
        core.translations["fr"].body = draw(WORDY)
    spec.channels.email.enabled = True
    spec.channels.sms.enabled = True
    spec.channels.sms.segment_budget = draw(st.integers(0, 3))
    spec.channels.sms.keep_lookalikes = draw(st.booleans())
    if draw(st.booleans()):
        spec.channels.sms.template = "".join(draw(st.lists(TEMPLATE_PIECES, max_size=6)))
    spec.channels.social.enabled = True
    return spec


recipients = st.builds(
    campaign_pb2.Recipient,
    id=st.just("r"),
    name=SHORT,
    locale=st.sampled_from(["", "fr-CA", "de", "ja"]),
    segment=SHORT,
    attributes=st.dictionaries(st.sampled_from(["a", "b"]), SHORT, max_size=2),
)


def _attempt(make: Callable[[], T]) -> tuple[T | None, RenderError | None]:
    """The result or the RenderError; any other exception fails the test."""
    try:
        return make(), None
    except RenderError as exc:
        return None, exc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=campaigns(), recipient=recipients)
def test_variants_fit_or_render_error(
    spec: campaign_pb2.CampaignSpec, recipient: campaign_pb2.Recipient
) -> None:
    renderer, error = _attempt(lambda: CampaignRenderer(spec))
    if renderer is None:
        assert error is not None
        assert error.violations
        event(f"invalid campaign: {error.violations[0].field}")
        return
    budget = spec.channels.sms.segment_budget or 1
    rendered, error = _attempt(lambda: renderer.sms(recipient))
    if rendered is None:
        assert error is not None
        assert error.violations[0].field.startswith("channels.sms")
        event("SMS template failed for this recipient")
    else:
        sms = rendered.variant
        count = count_sms(sms.text)
        assert count.segments == sms.segments <= budget
        assert count.encoding == sms.encoding
        if spec.core_message.cta_url:
            assert spec.core_message.cta_url in sms.text
    for account in renderer.social_accounts():
        post = renderer.social(account).variant
        assert post.length == post_length(account.network, post.text)
        assert post.length <= post.limit
    email = renderer.email(recipient, unsubscribe_url="https://acme.example/u/1").variant
    assert email.subject
    assert "https://acme.example/u/1" in email.html
