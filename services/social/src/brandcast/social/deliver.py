"""One dispatch item -> one post on the brand account's network -> an Outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from brandcast.shared import channels
from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError
from brandcast.shared.ratelimit import RateLimiter
from brandcast.social.accounts import AccountDirectory, NetworkName
from brandcast.social.networks import Network
from brandcast.v1 import bus_pb2, campaign_pb2

#: The rate limiter of one brand account.
LimiterFor = Callable[[str], RateLimiter]
#: Seconds a network's clock may run behind ours when a retry looks for an earlier post.
CLOCK_SKEW = 300.0


def deliver_post(
    item: bus_pb2.DispatchItem,
    *,
    accounts: AccountDirectory,
    networks: Mapping[str, Network],
    limiter_for: LimiterFor,
    since: float | None = None,
) -> Outcome:
    """Publish ``item``'s social variant for the brand account in ``item.address``.

    A retried item (``attempt`` > 0) is first looked for on networks without an
    idempotency key that can list an account's posts: an earlier attempt may have
    posted it although its answer was lost. ``since`` is the earliest time it can have.
    """
    if item.WhichOneof("variant") != "social":
        raise PermanentProviderError(
            "invalid_variant", "variant: a social delivery needs a social variant"
        )
    post = item.social
    account_id = item.address or post.account_id
    if not account_id:
        raise PermanentProviderError("invalid_address", "address: the brand account id is empty")
    if not post.text.strip():
        raise PermanentProviderError("empty_post", "social.text: the post text is empty")
    network_name = _network_name(post.network)
    account = accounts.find(account_id, network_name)
    network = networks.get(account.network)
    if network is None:
        raise PermanentProviderError(
            "unsupported_network",
            f"network {account.network!r} is not enabled",
            provider=account.network,
        )
    if item.attempt > 0 and since is not None:
        earlier = network.find_published(account, post, since=since)
        if earlier is not None:
            return earlier
    limiter_for(f"{account.network}:{account.account_id}").acquire()
    return network.publish(account, post, idempotency_key=item.idempotency_key)


def _network_name(value: int) -> NetworkName | None:
    """The table's name for the post's network; None when the post does not say (0)."""
    if value == campaign_pb2.SOCIAL_NETWORK_UNSPECIFIED:
        return None
    try:
        return channels.network(value).name
    except channels.UnknownNetworkError:
        raise PermanentProviderError(
            "unsupported_network", f"social.network: unknown network {value}"
        ) from None
