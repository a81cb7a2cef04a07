"""Redis going away in the middle of social posts: the posts are retried, not poisoned."""

from __future__ import annotations

from brandcast.shared.adapter import DeliveryPerProcess
from brandcast.shared.delivery import process_batch
from brandcast.social.bootstrap import ADAPTER
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis


def _batch(*accounts: str) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id="b1",
        campaign_id="c1",
        channel=campaign_pb2.CHANNEL_SOCIAL,
        items=[
            bus_pb2.DispatchItem(
                delivery_id=f"d-{account}",
                idempotency_key=f"c1:{account}",
                address=account,
                social=variant_pb2.SocialVariant(
                    network=campaign_pb2.SOCIAL_NETWORK_MASTODON, account_id=account, text="Hi"
                ),
            )
            for account in accounts
        ],
    )


def test_a_redis_outage_during_a_batch_is_retried(throwaway_redis: ThrowawayRedis) -> None:
    # The null network posts nothing; the per-account rate limit lives in this Redis.
    settings = SocialSettings(
        social_redis_url=throwaway_redis.url,
        social_rate_limit=100.0,
        social_null_network=True,
        social_sandbox_url="http://127.0.0.1:9",
    )
    deliver = DeliveryPerProcess(ADAPTER.build, settings)()
    policy = ADAPTER.retry_policy(settings)

    before = process_batch(_batch("acme-1"), deliver, policy)
    assert [r.status for r in before.receipts] == [campaign_pb2.DELIVERY_STATUS_SENT]

    throwaway_redis.stop()
    during = process_batch(_batch("acme-2", "acme-3"), deliver, policy)

    # Nothing failed and nothing escaped (an exception would take the poison path).
    assert during.receipts == []
    assert during.exhausted is None
    assert during.retry is not None
    assert [i.delivery_id for i in during.retry.items] == ["d-acme-2", "d-acme-3"]
