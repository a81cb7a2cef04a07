"""Redis going away in the middle of social posts: the posts are retried, not poisoned."""

from __future__ import annotations

from brandcast.social.bootstrap import ADAPTER
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2
from tests.throwaway_redis import ThrowawayRedis, deliver_across_an_outage


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
    deliver_across_an_outage(
        throwaway_redis, ADAPTER, settings, _batch("acme-1"), _batch("acme-2", "acme-3")
    )
