"""Two orchestrator replicas on one PostgreSQL and one broker publish each delivery once.

Each replica has its own store (its own engine and connections) and its own
publisher, as two processes would; they race for the same outbox, and
``FOR UPDATE SKIP LOCKED`` must hand every delivery to exactly one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from kombu import Connection

from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.shared.devstack import wait_until
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2
pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

RECIPIENTS = 1_500
REPLICAS = ("replica-a", "replica-b")


def spec() -> S.CampaignSpec:
    return S.CampaignSpec(
        name="Replicas",
        brand_kit=S.BrandKit(
            name="Acme",
            email_sender=S.EmailSender(address="news@acme.example.com"),
            sms_sender="+14155550100",
            postal_address="1 Market St, San Francisco, CA 94105",
        ),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(
            email=S.EmailSettings(enabled=True),
            sms=S.SmsSettings(enabled=True, ignore_quiet_hours=True),
        ),
    )


def chunks() -> Iterator[campaign_service_pb2.RecipientChunk]:
    for start in range(0, RECIPIENTS, 500):
        yield campaign_service_pb2.RecipientChunk(
            recipients=[
                S.Recipient(id=f"r{i}", email=f"r{i}@example.com", phone=f"+1415555{i:04d}")
                for i in range(start, start + 500)
            ]
        )


@pytest.fixture
def stores(database_url: str) -> Iterator[list[Store]]:
    opened = [Store.open(database_url) for _ in REPLICAS]
    try:
        yield opened
    finally:
        for store in opened:
            store.close()


def drain(broker_url: str, channel: str) -> list[tuple[str, str]]:
    """``(origin, delivery id)`` of every delivery in a channel queue (consumed)."""
    found: list[tuple[str, str]] = []
    with Connection(broker_url) as connection:
        queue = topology.dispatch_queue(channel)(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            batch = bus_pb2.DispatchBatch.FromString(message.body)
            origin = str(message.headers["origin"])
            found += [(origin, item.delivery_id) for item in batch.items]
    return found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_replicas_publish_every_delivery_exactly_once(
    stores: list[Store], broker_url: str
) -> None:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
    accepted = CampaignIntake(stores[0]).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec()), chunks()
    )
    cid = accepted.campaign.id
    dispatchers = [
        Dispatcher(
            store,
            lambda name=name: BusPublisher(broker_url, origin=name),  # type: ignore[misc]
            batch_size=25,
            poll_interval=0.05,
        )
        for store, name in zip(stores, REPLICAS, strict=True)
    ]
    for dispatcher in dispatchers:
        dispatcher.start()
    try:

        def outbox_empty() -> bool:
            return all(c.pending == 0 and c.scheduled == 0 for c in stores[1].counters(cid))

        wait_until(outbox_empty, 60, "the replicas to empty the outbox")
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()

    published = drain(broker_url, "email") + drain(broker_url, "sms")
    per_delivery = Counter(delivery_id for _, delivery_id in published)
    per_replica = Counter(origin for origin, _ in published)
    print(f"\npublished={len(published)} distinct={len(per_delivery)} by replica {per_replica}")
    assert len(per_delivery) == 2 * RECIPIENTS
    assert max(per_delivery.values()) == 1, "a delivery was published twice"
    assert set(per_replica) == set(REPLICAS), "one replica did all the work: no race tested"
    assert sum(c.queued for c in stores[0].counters(cid)) == 2 * RECIPIENTS
