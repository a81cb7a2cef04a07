"""Redis going away in the middle of email deliveries: the items are retried, not poisoned."""

from __future__ import annotations

from brandcast.email.bootstrap import ADAPTER
from brandcast.email.settings import EmailSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis, deliver_across_an_outage


def _batch(*names: str) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1",
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_EMAIL,
        brand_name="Acme",
        items=[
            bus_pb2.DispatchItem(
                delivery_id=f"d-{name}",
                idempotency_key=f"k-{name}",
                address=f"{name}@example.com",
                email=variant_pb2.EmailVariant(
                    subject="Hello",
                    text="Hello there",
                    html="<p>Hello there</p>",
                    from_address="news@acme.example",
                ),
            )
            for name in names
        ],
    )


def test_a_redis_outage_during_a_batch_is_retried(throwaway_redis: ThrowawayRedis) -> None:
    # The null provider sends nothing; the shared per-provider rate limit lives in this Redis.
    settings = EmailSettings(
        email_providers="null", email_redis_url=throwaway_redis.url, email_rate_limit=100.0
    )
    deliver_across_an_outage(throwaway_redis, ADAPTER, settings, _batch("ann"), _batch("bob", "cy"))
