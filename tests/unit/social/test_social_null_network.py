"""SOCIAL_NULL_NETWORK=true: every network is replaced by one that posts nothing."""

from __future__ import annotations

import pytest

from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.social.bootstrap import bootstrap
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


@pytest.mark.parametrize(
    "network", [campaign_pb2.SOCIAL_NETWORK_MASTODON, campaign_pb2.SOCIAL_NETWORK_LINKEDIN]
)
def test_null_network_reports_sent_without_a_sandbox(
    monkeypatch: pytest.MonkeyPatch, network: campaign_pb2.SocialNetwork.ValueType
) -> None:
    monkeypatch.setenv("SOCIAL_NULL_NETWORK", "true")
    # An unreachable sandbox proves no HTTP call is made.
    settings = SocialSettings(
        social_sandbox_url="http://127.0.0.1:9", social_rate_limit=0, social_redis_url=""
    )
    assert settings.social_null_network
    batch = bus_pb2.DispatchBatch(campaign_id="c1", channel=campaign_pb2.CHANNEL_SOCIAL)
    batch.items.add(
        delivery_id="d1",
        idempotency_key="c1:acme:social",
        address="acme",
        social=variant_pb2.SocialVariant(network=network, account_id="acme", text="Hello"),
    )
    outcome = process_batch(batch, bootstrap(settings), RetryPolicy())

    [receipt] = outcome.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_SENT
    assert (receipt.provider, receipt.provider_message_id) == ("null", "c1:acme:social")
