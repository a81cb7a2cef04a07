"""The public interface the orchestrator relies on."""

import pytest

from brandcast.orchestrator.rendering import CampaignRenderer, FieldViolation, RenderError
from brandcast.v1 import campaign_pb2


def _spec() -> campaign_pb2.CampaignSpec:
    spec = campaign_pb2.CampaignSpec(name="Spring Sale")
    spec.brand_kit.name = "Acme"
    spec.brand_kit.email_sender.address = "news@acme.example"
    spec.brand_kit.postal_address = "1 Main St, Springfield"
    spec.brand_kit.social_accounts.add(
        id="acme-masto", network=campaign_pb2.SOCIAL_NETWORK_MASTODON
    )
    spec.core_message.headline = "Spring sale"
    spec.core_message.body = "Everything 20% off this week."
    spec.core_message.cta_text = "Shop now"
    spec.core_message.cta_url = "https://acme.example/sale"
    spec.channels.email.enabled = True
    spec.channels.sms.enabled = True
    spec.channels.social.enabled = True
    return spec


def test_preview_has_one_variant_per_channel_and_account() -> None:
    renderer = CampaignRenderer(_spec())
    recipients = [campaign_pb2.Recipient(id="r1", name="Ann"), campaign_pb2.Recipient(id="r2")]
    variants = renderer.preview(recipients)
    kinds = [(v.channel, v.recipient_id, v.WhichOneof("variant")) for v in variants]
    assert kinds == [
        (campaign_pb2.CHANNEL_EMAIL, "r1", "email"),
        (campaign_pb2.CHANNEL_SMS, "r1", "sms"),
        (campaign_pb2.CHANNEL_EMAIL, "r2", "email"),
        (campaign_pb2.CHANNEL_SMS, "r2", "sms"),
        (campaign_pb2.CHANNEL_SOCIAL, "acme-masto", "social"),
    ]


def test_invalid_cta_url_is_a_field_violation() -> None:
    spec = _spec()
    spec.core_message.cta_url = "javascript:alert(1)"
    with pytest.raises(RenderError) as info:
        CampaignRenderer(spec)
    assert [v.field for v in info.value.violations] == ["core_message.cta_url"]


def test_render_error_survives_pickling() -> None:
    import pickle

    error = RenderError([FieldViolation("core_message.cta_url", "bad")])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.violations == error.violations
    assert str(copy) == "core_message.cta_url: bad"
