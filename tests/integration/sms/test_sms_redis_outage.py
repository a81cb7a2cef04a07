"""Redis going away in the middle of SMS deliveries: the items are retried, not poisoned."""

from __future__ import annotations

from collections.abc import Callable

from brandcast.shared.adapter import DeliveryPerProcess
from brandcast.shared.delivery import process_batch
from brandcast.shared.ratelimit import REDIS_UNAVAILABLE
from brandcast.sms.bootstrap import ADAPTER
from brandcast.sms.emulator import EmulatorServer
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis


def _batch(*keys: str) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1",
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_SMS,
        items=[
            bus_pb2.DispatchItem(
                delivery_id=f"d-{key}",
                idempotency_key=key,
                address="+447400123456",
                sms=variant_pb2.SmsVariant(text="Sale today", sender="+15005550006"),
            )
            for key in keys
        ],
    )


def test_a_redis_outage_during_a_batch_is_retried(
    emulator: EmulatorServer,
    sms_settings: Callable[..., SmsSettings],
    throwaway_redis: ThrowawayRedis,
) -> None:
    # The rate limit and the prefix cap both live in this Redis.
    settings = sms_settings(sms_redis_url=throwaway_redis.url, sms_rate_limit=100.0)
    deliver = DeliveryPerProcess(ADAPTER.build, settings)()
    policy = ADAPTER.retry_policy(settings)

    before = process_batch(_batch("k1"), deliver, policy)
    assert [r.status for r in before.receipts] == [campaign_pb2.DELIVERY_STATUS_SENT]

    throwaway_redis.stop()
    during = process_batch(_batch("k2", "k3"), deliver, policy)

    # Nothing failed and nothing escaped (an exception would take the poison path):
    # both deliveries come back as a retry, and nothing more reached the provider.
    assert during.receipts == []
    assert during.exhausted is None
    assert during.retry is not None
    assert [i.delivery_id for i in during.retry.items] == ["d-k2", "d-k3"]
    assert len(emulator.messages()) == 1
    assert REDIS_UNAVAILABLE  # the code the limiter raises, named in the adapter kit
