"""The one channel and network table: every proto value has a row, lookups fail loudly."""

from __future__ import annotations

import pytest

from brandcast.shared import channels, topology
from brandcast.v1 import bus_pb2, campaign_pb2


def test_every_channel_of_the_contract_has_a_row_with_its_bus_names() -> None:
    values = {v for v in campaign_pb2.Channel.values() if v != campaign_pb2.CHANNEL_UNSPECIFIED}
    assert {c.value for c in channels.CHANNELS} == values
    sms = channels.channel("sms")
    assert channels.channel(campaign_pb2.CHANNEL_SMS) is sms
    assert (sms.label, sms.queue_name, sms.routing_key) == ("SMS", "brandcast.sms", "sms")
    assert sms.task_name == topology.task_name("sms") == "brandcast.sms.deliver_batch"
    assert sms.settings_prefix == "SMS_"
    assert topology.dispatch_queue("sms").name == sms.queue_name


def test_a_channel_name_is_its_variant_and_settings_field() -> None:
    variants = {f.name for f in bus_pb2.DispatchItem.DESCRIPTOR.oneofs_by_name["variant"].fields}
    settings = set(campaign_pb2.ChannelSettings.DESCRIPTOR.fields_by_name)
    for channel in channels.CHANNELS:
        assert channel.name in variants
        assert channel.name in settings


def test_an_unknown_channel_raises_instead_of_falling_through() -> None:
    with pytest.raises(channels.UnknownChannelError, match="Did you mean 'sms'"):
        channels.channel("smss")
    with pytest.raises(channels.UnknownChannelError, match="unknown channel 0"):
        channels.channel(campaign_pb2.CHANNEL_UNSPECIFIED)
    with pytest.raises(ValueError, match="unknown channel 99"):
        topology.channel_name(99)
    with pytest.raises(channels.UnknownChannelError):
        topology.dispatch_queue("push")


def test_every_network_of_the_contract_has_a_row_with_a_rule_and_a_limit() -> None:
    values = {
        v
        for v in campaign_pb2.SocialNetwork.values()
        if v != campaign_pb2.SOCIAL_NETWORK_UNSPECIFIED
    }
    # Other test modules may have registered networks of their own by now.
    assert {n.value for n in channels.BUILTIN_NETWORKS} == values
    x = channels.network("x")
    assert channels.network(campaign_pb2.SOCIAL_NETWORK_X) is x
    assert (x.label, x.counting, x.max_length) == ("X", channels.COUNT_TWITTER_WEIGHTED, 280)
    assert channels.network("mastodon").account_may_override_limit
    assert channels.builtin_network_names() == ("mastodon", "bluesky", "x", "linkedin")


def test_an_unknown_network_raises_with_a_suggestion() -> None:
    with pytest.raises(channels.UnknownNetworkError, match="Did you mean 'bluesky'"):
        channels.network("blusky")
    with pytest.raises(channels.UnknownNetworkError, match="unknown network 0"):
        channels.network(campaign_pb2.SOCIAL_NETWORK_UNSPECIFIED)
