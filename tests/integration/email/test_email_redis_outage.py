"""Redis going away in the middle of email deliveries: the items are retried, not poisoned."""

from __future__ import annotations

from brandcast.email.bootstrap import ADAPTER
from brandcast.email.settings import EmailSettings
from brandcast.shared.adapter import DeliveryPerProcess
from brandcast.shared.delivery import process_batch
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis


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
    deliver = DeliveryPerProcess(ADAPTER.build, settings)()
    policy = ADAPTER.retry_policy(settings)

    before = process_batch(_batch("ann"), deliver, policy)
    assert [(r.status, r.error_message) for r in before.receipts] == [
        (campaign_pb2.DELIVERY_STATUS_SENT, "")
    ]

    throwaway_redis.stop()
    during = process_batch(_batch("bob", "cy"), deliver, policy)

    # Nothing failed and nothing escaped (an exception would take the poison path).
    assert during.receipts == []
    assert during.exhausted is None
    assert during.retry is not None
    assert [i.delivery_id for i in during.retry.items] == ["d-bob", "d-cy"]
