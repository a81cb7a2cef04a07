"""The one place the social adapter is wired: settings -> accounts, networks, limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from brandcast.shared import channels
from brandcast.shared.adapter import Adapter
from brandcast.shared.delivery import Deliver, Outcome
from brandcast.shared.ratelimit import RateLimiter
from brandcast.social.accounts import AccountDirectory, load_accounts
from brandcast.social.deliver import CLOCK_SKEW, deliver_post
from brandcast.social.linkedin_versions import SETTING, retirement_warning, today
from brandcast.social.network_table import network_table
from brandcast.social.networks import Network
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


def default_networks(settings: SocialSettings) -> dict[str, Network]:
    """The networks ``SOCIAL_NETWORKS`` names, built from the channel table's rows."""
    networks: list[Network] = ADAPTER.build_providers(settings)
    return {network.name: network for network in networks}


class _AccountLimiters:
    """One limiter per brand account (``SOCIAL_RATE_LIMIT``), created on first use."""

    def __init__(self, settings: SocialSettings) -> None:
        self._settings = settings
        self._limiters: dict[str, RateLimiter] = {}

    def __call__(self, key: str) -> RateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = ADAPTER.rate_limiter(self._settings, key)
        return limiter


def bootstrap(
    settings: SocialSettings,
    networks: Mapping[str, Network] | None = None,
    accounts: AccountDirectory | None = None,
) -> Deliver:
    """The per-item delivery function of the worker; tests pass their own networks."""
    if networks is None:
        if settings.social_null_network:
            networks = {name: NullNetwork(name) for name in channels.network_names()}
        else:
            # Built first: a network from another package registers its row on import.
            networks = default_networks(settings)
    if accounts is None:
        configured = (
            load_accounts(settings.social_accounts_file) if settings.social_accounts_file else {}
        )
        accounts = AccountDirectory(configured, sandbox_url=settings.social_sandbox_url)
    warn_about_linkedin_versions(settings, accounts)
    publish = partial(
        deliver_post, accounts=accounts, networks=networks, limiter_for=_AccountLimiters(settings)
    )

    def deliver(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> Outcome:
        since = batch.created_at.seconds - CLOCK_SKEW if batch.HasField("created_at") else None
        return publish(item, since=since)

    return deliver


ADAPTER = Adapter(
    channel="social",
    settings=SocialSettings,
    providers=network_table(),
    build=bootstrap,
    provider_setting="networks",
)
