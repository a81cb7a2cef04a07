"""A network stand-in that accepts every post without publishing it, for benchmarks.

``SOCIAL_NULL_NETWORK=true`` puts it in place of every network, so a benchmark
measures the pipeline's own cost with no HTTP call. Never enable it in production:
the receipts say SENT although nothing was posted.
"""

from __future__ import annotations

from brandcast.shared.delivery import Outcome
from brandcast.social.accounts import AccountConfig, NetworkName
from brandcast.social.networks._port import Network
from brandcast.v1 import variant_pb2


class NullNetwork(Network):
    """Stands in for the network ``name`` (the receipt's provider is still ``null``)."""

    def __init__(self, name: NetworkName) -> None:
        # Instances stand in for each real network, so the name is per instance.
        self.name = name  # type: ignore[misc]

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        return Outcome(provider="null", provider_message_id=idempotency_key)
