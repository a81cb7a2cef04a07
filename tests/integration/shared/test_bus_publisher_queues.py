"""The publisher declares the queues a message needs before it goes out: a
message routed to an exchange with no queue bound would vanish without an error.

It builds and binds those declarations once per connection (kombu remembers what
the connection declared); a queue deleted behind its back is declared again once
the publisher has reconnected."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2

pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
def publisher(broker_url: str) -> Iterator[BusPublisher]:
    with BusPublisher(broker_url) as publisher:
        yield publisher


def _batch() -> bus_pb2.DispatchBatch:
    batch = bus_pb2.DispatchBatch(
        batch_id=uuid.uuid4().hex, channel=campaign_pb2.CHANNEL_SMS, campaign_id="c1"
    )
    batch.items.add(delivery_id=uuid.uuid4().hex, recipient_id="r1")
    return batch


def _depth(broker_url: str, queue: str) -> int:
    with Connection(broker_url) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def test_each_message_finds_its_queues_declared(broker_url: str, publisher: BusPublisher) -> None:
    sms = topology.dispatch_queue("sms").name
    parked = topology.dead_letter_queue_name("sms")
    for _ in range(3):
        publisher.publish_dispatch(_batch())
    publisher.publish_dead_letter(_batch())
    assert _depth(broker_url, sms) == 3
    assert _depth(broker_url, parked) == 1


def test_a_queue_deleted_behind_the_publishers_back_is_declared_after_a_reconnect(
    broker_url: str, publisher: BusPublisher
) -> None:
    sms = topology.dispatch_queue("sms").name
    publisher.publish_dispatch(_batch())
    with Connection(broker_url) as conn:
        conn.default_channel.queue_delete(sms)
    publisher._reconnect()  # as after a broker restart
    publisher.publish_dispatch(_batch())
    assert _depth(broker_url, sms) == 1
