"""A complete, valid campaign spec that each rendering test adjusts to what it checks."""

import pytest

from brandcast.v1 import campaign_pb2


@pytest.fixture
def spec() -> campaign_pb2.CampaignSpec:
    spec = campaign_pb2.CampaignSpec(name="Spring Sale 2026")
    kit = spec.brand_kit
    kit.name = "Acme"
    kit.email_sender.name = "Acme News"
    kit.email_sender.address = "news@acme.example"
    kit.postal_address = "1 Main St, Springfield"
    kit.legal_footer = "You get this because you subscribed."
    kit.primary_color = "#0a7d5a"
    kit.logo_url = "https://acme.example/logo.png"
    kit.sms_sender = "ACME"
    kit.default_locale = "en"
    kit.default_hashtags.append("acme")
    kit.social_accounts.add(id="masto", network=campaign_pb2.SOCIAL_NETWORK_MASTODON)
    kit.social_accounts.add(id="sky", network=campaign_pb2.SOCIAL_NETWORK_BLUESKY)
    kit.social_accounts.add(id="x", network=campaign_pb2.SOCIAL_NETWORK_X)
    kit.social_accounts.add(id="li", network=campaign_pb2.SOCIAL_NETWORK_LINKEDIN)
    core = spec.core_message
    core.headline = "Spring sale"
    core.body = "Everything is 20% off this week."
    core.cta_text = "Shop now"
    core.cta_url = "https://acme.example/sale"
    core.hashtags.append("spring")
    spec.channels.email.enabled = True
    spec.channels.email.unsubscribe_url = "https://acme.example/unsubscribe"
    spec.channels.sms.enabled = True
    spec.channels.social.enabled = True
    return spec
