"""deliver_post: from a dispatch item to a network call, with a recording network."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from brandcast.shared.delivery import Outcome, RetryPolicy, process_batch
from brandcast.shared.errors import PermanentProviderError
from brandcast.shared.ratelimit import RateLimiter, Unlimited
from brandcast.social.accounts import AccountConfig, AccountDirectory
from brandcast.social.bootstrap import bootstrap
from brandcast.social.deliver import deliver_post
from brandcast.social.networks import Network
from brandcast.social.settings import SocialSettings
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


@dataclass
class RecordingNetwork(Network):
    name = "mastodon"
    published: list[tuple[str, str, str]] = field(default_factory=list)

    def publish(
        self, account: AccountConfig, post: variant_pb2.SocialVariant, *, idempotency_key: str
    ) -> Outcome:
        self.published.append((account.account_id, post.text, idempotency_key))
        return Outcome(provider=self.name, provider_message_id="1", public_url="https://m/1")


@dataclass
class CountingLimiter:
    keys: list[str] = field(default_factory=list)

    def __call__(self, key: str) -> RateLimiter:
        self.keys.append(key)
        return Unlimited()


def _item(**overrides: object) -> bus_pb2.DispatchItem:
    item = bus_pb2.DispatchItem(
        delivery_id="d1",
        idempotency_key="camp:acme",
        address="acme",
        social=variant_pb2.SocialVariant(
            network=campaign_pb2.SOCIAL_NETWORK_MASTODON, account_id="acme", text="Hello"
        ),
    )
    for name, value in overrides.items():
        if name == "social":
            assert isinstance(value, variant_pb2.SocialVariant)
            item.social.CopyFrom(value)
        else:
            setattr(item, name, value)
    return item


def _variant(text: str) -> variant_pb2.SocialVariant:
    return variant_pb2.SocialVariant(network=campaign_pb2.SOCIAL_NETWORK_MASTODON, text=text)


def _directory() -> AccountDirectory:
    return AccountDirectory({}, sandbox_url="http://127.0.0.1:8040")


def test_the_post_goes_to_the_accounts_network_with_the_idempotency_key() -> None:
    network, limiter = RecordingNetwork(), CountingLimiter()
    outcome = deliver_post(
        _item(), accounts=_directory(), networks={"mastodon": network}, limiter_for=limiter
    )
    assert network.published == [("acme", "Hello", "camp:acme")]
    assert limiter.keys == ["mastodon:acme"]
    assert outcome.provider_message_id == "1"


@pytest.mark.parametrize(
    ("item", "code", "field_name"),
    [
        (
            bus_pb2.DispatchItem(delivery_id="d", address="acme", sms=variant_pb2.SmsVariant()),
            "invalid_variant",
            "variant",
        ),
        (_item(address="", social=_variant("Hi")), "invalid_address", "address"),
        (_item(social=_variant("  ")), "empty_post", "text"),
    ],
)
def test_bad_items_fail_naming_the_field(
    item: bus_pb2.DispatchItem, code: str, field_name: str
) -> None:
    network = RecordingNetwork()
    with pytest.raises(PermanentProviderError) as refused:
        deliver_post(
            item,
            accounts=_directory(),
            networks={"mastodon": network},
            limiter_for=CountingLimiter(),
        )
    assert refused.value.code == code
    assert field_name in refused.value.message
    assert network.published == []


def test_a_network_that_is_not_enabled_fails() -> None:
    with pytest.raises(PermanentProviderError) as refused:
        deliver_post(_item(), accounts=_directory(), networks={}, limiter_for=CountingLimiter())
    assert refused.value.code == "unsupported_network"


def test_bootstrap_wires_accounts_and_networks_into_failed_and_sent_receipts() -> None:
    network = RecordingNetwork()
    settings = SocialSettings(social_sandbox_url="", social_rate_limit=0)
    accounts = AccountDirectory({"acme": AccountConfig("acme", "mastodon", "https://m.example")})
    deliver = bootstrap(settings, networks={"mastodon": network}, accounts=accounts)
    batch = bus_pb2.DispatchBatch(campaign_id="c", channel=campaign_pb2.CHANNEL_SOCIAL)
    batch.items.append(_item())
    batch.items.append(_item(delivery_id="d2", address="unknown"))

    result = process_batch(batch, deliver, RetryPolicy())

    sent, failed = result.receipts
    assert (sent.status, sent.provider_message_id, sent.public_url) == (
        campaign_pb2.DELIVERY_STATUS_SENT,
        "1",
        "https://m/1",
    )
    assert (failed.status, failed.error_code) == (
        campaign_pb2.DELIVERY_STATUS_FAILED,
        "missing_credentials",
    )
    assert result.retry is None
