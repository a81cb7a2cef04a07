"""Paced, fair release (issue #22): the dispatcher against real RabbitMQ, SQLite and
PostgreSQL, with a pacer told that SMS sends at 2/s."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest
from kombu import Connection

from brandcast.orchestrator import dispatcher as dispatcher_module
from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.pacing import Pacer
from brandcast.orchestrator.store import Store
from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2

pytestmark = [pytest.mark.rabbitmq]


@pytest.fixture
def publisher(broker_url: str) -> Iterator[BusPublisher]:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        yield publisher


def submit(store: Store, name: str, size: int, priority: int, first: int) -> str:
    spec = S.CampaignSpec(
        name=name,
        priority=priority,  # type: ignore[arg-type]
        brand_kit=S.BrandKit(name="Acme", sms_sender="+14155550100"),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(sms=S.SmsSettings(enabled=True, ignore_quiet_hours=True)),
        audience=[
            S.Recipient(id=f"r{i}", phone=f"+1415555{i:04d}") for i in range(first, first + size)
        ],
    )
    result = CampaignIntake(store).submit(campaign_service_pb2.SubmitCampaignRequest(spec=spec))
    return result.campaign.id


def batches_on_the_bus(broker_url: str) -> list[bus_pb2.DispatchBatch]:
    found = []
    with Connection(broker_url) as connection:
        queue = topology.dispatch_queue("sms")(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            found.append(bus_pb2.DispatchBatch.FromString(message.body))
    return found


def test_a_round_is_the_lead_shared_transactional_first_skipping_paused(
    store: Store, publisher: BusPublisher, broker_url: str
) -> None:
    marketing = submit(store, "newsletter", 40, S.CAMPAIGN_PRIORITY_MARKETING, 0)
    transactional = submit(store, "receipts", 40, S.CAMPAIGN_PRIORITY_TRANSACTIONAL, 100)
    paused = submit(store, "held", 10, S.CAMPAIGN_PRIORITY_TRANSACTIONAL, 200)
    store.pause_campaign(paused)
    pacer = Pacer(lead_seconds=5, max_batch=1000)
    # The SMS workers said: 2/s at most (SMS_RATE_LIMIT).
    pacer.settled(
        bus_pb2.ReceiptBatch(
            capacity=bus_pb2.SendingCapacity(
                rate_limit=2, rate_limit_setting="SMS_RATE_LIMIT", channel=S.CHANNEL_SMS
            )
        )
    )
    relay = Dispatcher(store, lambda: publisher, batch_size=1000, pacer=pacer)

    released = relay.dispatch_once(S.CHANNEL_SMS)

    batches = batches_on_the_bus(broker_url)
    per_campaign = collections.Counter(b.campaign_id for b in batches for _ in b.items)
    assert released == 10  # 5 s of sending at 2/s
    assert per_campaign == {transactional: 8, marketing: 2}  # marketing keeps 20 %
    assert max(len(b.items) for b in batches) <= 4  # a batch is 2 s of sending
    assert pacer.in_flight(S.CHANNEL_SMS) == 10
    assert relay.dispatch_once(S.CHANNEL_SMS) == 0  # the lead is on the bus: wait


class SpecCountingStore(Store):
    """The real store, counting the campaign specs the dispatcher reads."""

    spec_reads = 0

    def campaign_spec(self, campaign_id: str) -> tuple[S.CampaignSpec, str] | None:
        self.spec_reads += 1
        return super().campaign_spec(campaign_id)


def test_more_open_campaigns_than_renderers_kept_cost_no_rebuild_per_round(
    database_url: str, publisher: BusPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_module, "RENDERER_CACHE", 2)
    store = SpecCountingStore.open(database_url)
    assert isinstance(store, SpecCountingStore)
    try:
        ids = [submit(store, f"c{n}", 2, S.CAMPAIGN_PRIORITY_MARKETING, 10 * n) for n in range(5)]
        relay = Dispatcher(store, lambda: publisher, batch_size=1000)
        assert relay.dispatch_once(S.CHANNEL_SMS) == 10
        reads = store.spec_reads
        # Their deliveries are on the bus: the five stay open, and every round
        # after a refresh weighs each by its priority, without reading or
        # building its campaign again.
        for _ in range(3):
            relay.refresh()
            assert relay.dispatch_once(S.CHANNEL_SMS) == 0
        assert store.spec_reads == reads
        assert {c for c, _ in store.open_campaigns()} == set(ids)
    finally:
        store.close()
