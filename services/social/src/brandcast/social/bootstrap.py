"""The one place the social adapter is wired: settings -> accounts, networks, limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

import httpx
import redis

from brandcast.shared.delivery import Deliver, Outcome, RetryPolicy
from brandcast.shared.errors import TransientProviderError
from brandcast.shared.ratelimit import RateLimiter, rate_limiter
from brandcast.social.accounts import NETWORK_NAMES, AccountDirectory, load_accounts
from brandcast.social.credential_store import credential_store
from brandcast.social.deliver import deliver_post
from brandcast.social.linkedin_versions import SETTING, retirement_warning, today
from brandcast.social.networks import Bluesky, LinkedIn, Mastodon, Network, X
from brandcast.social.networks.null import NullNetwork
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2

log = logging.getLogger(__name__)


def warn_about_linkedin_versions(settings: SocialSettings, accounts: AccountDirectory) -> list[str]:
    """Log (and return) what is retired or retires soon: the setting and accounts' own versions."""
    on = today()
    warnings = [retirement_warning(settings.social_linkedin_version, on, SETTING)]
    for account in accounts.configured():
        version = account.get("linkedin_version")
        if account.network == "linkedin" and version:
            where = f"linkedin_version of account {account.account_id!r}"
            warnings.append(retirement_warning(version, on, where))
    found = [warning for warning in warnings if warning]
    for warning in found:
        log.warning("%s", warning)
    return found


def default_networks(settings: SocialSettings, client: httpx.Client) -> dict[str, Network]:
    # One store for every network: tokens and sessions shared by all workers, kept over restarts.
    credentials = credential_store(settings.social_redis_url, settings.social_credentials_prefix)
    networks: list[Network] = [
        Mastodon(client, limits_ttl=settings.social_instance_cache_seconds),
        Bluesky(client, credentials=credentials),
        X(client, credentials=credentials),
        LinkedIn(client, version=settings.social_linkedin_version),
    ]
    return {network.name: network for network in networks}


class _AccountLimiters:
    """One limiter per brand account, created on first use."""

    def __init__(self, settings: SocialSettings) -> None:
        self._settings = settings
        self._limiters: dict[str, RateLimiter] = {}

    def __call__(self, key: str) -> RateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = _GuardedLimiter(
                rate_limiter(
                    self._settings.social_redis_url,
                    f"social:{key}",
                    self._settings.social_rate_per_second,
                )
            )
            self._limiters[key] = limiter
        return limiter


class _GuardedLimiter:
    """A limiter whose Redis being down delays the post instead of poisoning the batch."""

    def __init__(self, inner: RateLimiter) -> None:
        self._inner = inner

    def acquire(self) -> None:
        try:
            self._inner.acquire()
        except redis.RedisError as exc:
            raise TransientProviderError(
                "rate_limit_unavailable", f"the shared rate limit is unreachable: {exc}"
            ) from exc


def retry_policy(settings: SocialSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.social_max_attempts,
        base_delay=settings.social_retry_base_delay,
        max_delay=settings.social_retry_max_delay,
    )


def bootstrap(
    settings: SocialSettings,
    networks: Mapping[str, Network] | None = None,
    accounts: AccountDirectory | None = None,
) -> Deliver:
    """The per-item delivery function of the worker; tests pass their own networks."""
    if accounts is None:
        configured = (
            load_accounts(settings.social_accounts_file) if settings.social_accounts_file else {}
        )
        accounts = AccountDirectory(configured, sandbox_url=settings.social_sandbox_url)
    warn_about_linkedin_versions(settings, accounts)
    if networks is None and settings.social_null_network:
        networks = {name: NullNetwork(name) for name in NETWORK_NAMES}
    if networks is None:
        client = httpx.Client(timeout=settings.social_http_timeout, follow_redirects=False)
        networks = default_networks(settings, client)
    publish = partial(
        deliver_post, accounts=accounts, networks=networks, limiter_for=_AccountLimiters(settings)
    )

    def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        return publish(item)

    return deliver
