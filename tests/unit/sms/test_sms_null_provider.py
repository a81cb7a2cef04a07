"""SMS_PROVIDERS=null: the benchmark provider answers SENT with the key, sending nothing."""

from __future__ import annotations

import pytest

from brandcast.shared.delivery import RetryPolicy, process_batch
from brandcast.sms.bootstrap import bootstrap, create_providers
from brandcast.sms.providers.null import NullProvider
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


def test_null_provider_is_selected_by_configuration_and_reports_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_PROVIDERS", "null")
    settings = SmsSettings(sms_rate_limit=0, sms_redis_url="")
    assert [type(p) for p in create_providers(settings)] == [NullProvider]

    batch = bus_pb2.DispatchBatch(campaign_id="c1", channel=campaign_pb2.CHANNEL_SMS)
    batch.items.add(
        delivery_id="d1",
        idempotency_key="c1:r1:sms",
        address="+14155550123",
        sms=variant_pb2.SmsVariant(text="Spring sale today"),
    )
    outcome = process_batch(batch, bootstrap(settings), RetryPolicy())

    [receipt] = outcome.receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_SENT
    assert (receipt.provider, receipt.provider_message_id) == ("null", "c1:r1:sms")


def test_destination_policy_still_applies_with_the_null_provider() -> None:
    settings = SmsSettings(sms_providers=("null",), sms_rate_limit=0, sms_redis_url="")
    batch = bus_pb2.DispatchBatch(campaign_id="c1", channel=campaign_pb2.CHANNEL_SMS)
    batch.items.add(
        delivery_id="d1",
        idempotency_key="k",
        address="not-a-number",
        sms=variant_pb2.SmsVariant(text="Hi"),
    )
    [receipt] = process_batch(batch, bootstrap(settings), RetryPolicy()).receipts
    assert receipt.status == campaign_pb2.DELIVERY_STATUS_FAILED
