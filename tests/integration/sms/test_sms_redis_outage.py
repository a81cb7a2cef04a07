"""Redis going away in the middle of SMS deliveries: the items are retried, not poisoned."""

from __future__ import annotations

from collections.abc import Callable

from brandcast.sms.bootstrap import ADAPTER
from brandcast.sms.emulator import EmulatorServer
from brandcast.sms.settings import SmsSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis, deliver_across_an_outage


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
    deliver_across_an_outage(throwaway_redis, ADAPTER, settings, _batch("k1"), _batch("k2", "k3"))
    assert len(emulator.messages()) == 1  # nothing more reached the provider
