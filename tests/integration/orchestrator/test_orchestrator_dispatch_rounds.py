"""When the dispatcher's thread claims again (issue #23): at once after a full
round, but not after one that claimed less than it was allowed, whose empty
follow-up claim only competed with the receipt and the watch of a lone delivery;
after receipts only when it waited for room on the bus or deliveries came back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from brandcast.orchestrator.dispatcher import Dispatcher
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.pacing import PROBE, Pacer
from brandcast.orchestrator.store import Store
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2

S = campaign_pb2

pytestmark = [pytest.mark.rabbitmq]

#: Longer than any test waits: a round it shows came from a claim going on
#: at once or from a wake, never from the poll.
POLL = 60.0


class CountingStore(Store):
    """The real store, counting the SMS dispatcher's claims."""

    sms_claims = 0

    @contextlib.contextmanager
    def claim_due(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("channel") == S.CHANNEL_SMS:
            self.sms_claims += 1
        with super().claim_due(*args, **kwargs) as claim:
            yield claim


@pytest.fixture
def store(database_url: str) -> Iterator[CountingStore]:
    store = CountingStore.open(database_url)
    try:
        yield store  # type: ignore[misc]
    finally:
        store.close()


@pytest.fixture
def publisher(broker_url: str) -> Iterator[BusPublisher]:
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
        yield publisher


def submit(store: Store, size: int) -> str:
    spec = S.CampaignSpec(
        name="rounds",
        brand_kit=S.BrandKit(name="Acme", sms_sender="+14155550100"),
        core_message=S.CoreMessage(headline="Spring blend", body="Ours."),
        channels=S.ChannelSettings(sms=S.SmsSettings(enabled=True, ignore_quiet_hours=True)),
        audience=[S.Recipient(id=f"r{i}", phone=f"+1415555{i:04d}") for i in range(size)],
    )
    request = campaign_service_pb2.SubmitCampaignRequest(spec=spec)
    return CampaignIntake(store).submit(request).campaign.id


def queued(store: Store, *campaign_ids: str) -> int:
    return sum(
        len(store.list_deliveries(c, status=S.DELIVERY_STATUS_QUEUED)[0]) for c in campaign_ids
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def running(
    store: Store, publisher: BusPublisher, batch_size: int, pacer: Pacer | None = None
) -> Dispatcher:
    dispatcher = Dispatcher(
        store, lambda: publisher, batch_size=batch_size, poll_interval=POLL, pacer=pacer
    )
    if pacer is not None:
        pacer.on_drain = dispatcher.room_freed  # as the server wires them
    dispatcher.start()
    return dispatcher


def settle(pacer: Pacer, store: Store, campaign_id: str, status: int, count: int) -> None:
    """Receipts of ``count`` queued deliveries, as the collector hands them to
    the pacer once applied (here they are applied by the store itself)."""
    ids = [d.id for d in store.list_deliveries(campaign_id, status=S.DELIVERY_STATUS_QUEUED)[0]]
    batch = bus_pb2.ReceiptBatch(capacity=bus_pb2.SendingCapacity(channel=S.CHANNEL_SMS))
    for delivery_id in ids[:count]:
        batch.receipts.add(
            delivery_id=delivery_id, campaign_id=campaign_id, channel=S.CHANNEL_SMS, status=status
        )
    store.apply_receipts(list(batch.receipts))
    pacer.settled(batch)


def test_a_round_that_claimed_less_than_allowed_waits_for_a_wake(
    store: CountingStore, publisher: BusPublisher
) -> None:
    first = submit(store, 3)
    dispatcher = running(store, publisher, batch_size=10)
    try:
        wait_for(lambda: queued(store, first) == 3)
        time.sleep(0.5)
        assert store.sms_claims == 1  # no empty claim right after it

        # A new campaign wakes it (as ``accepted`` does), and it waits again.
        second = submit(store, 2)
        dispatcher.refresh()
        dispatcher.wake([S.CHANNEL_SMS])
        wait_for(lambda: queued(store, second) == 2)
        time.sleep(0.5)
        # One claim for each open campaign (the first still waits for its
        # receipts), then none: neither used its share of the round.
        assert store.sms_claims == 3
    finally:
        dispatcher.stop()


def test_a_full_round_claims_again_at_once(store: CountingStore, publisher: BusPublisher) -> None:
    campaign = submit(store, 5)
    dispatcher = running(store, publisher, batch_size=2)
    try:
        # 2 + 2 + 1 without a wake: each full round is followed by another.
        wait_for(lambda: queued(store, campaign) == 5)
        time.sleep(0.5)
        assert store.sms_claims == 3
    finally:
        dispatcher.stop()


def test_receipts_wake_a_round_only_for_room_or_deliveries_handed_back(
    store: CountingStore, publisher: BusPublisher
) -> None:
    pacer = Pacer(lead_seconds=5, max_batch=1000)
    campaign = submit(store, 3)
    dispatcher = running(store, publisher, batch_size=100, pacer=pacer)
    try:
        wait_for(lambda: queued(store, campaign) == 3)
        assert store.sms_claims == 1
        # The outbox was emptied: receipts leave nothing to claim.
        settle(pacer, store, campaign, S.DELIVERY_STATUS_SENT, 2)
        time.sleep(0.5)
        assert store.sms_claims == 1

        # Handed back unsent: it is in the outbox again, and a round takes it.
        settle(pacer, store, campaign, S.DELIVERY_STATUS_DEFERRED, 1)
        wait_for(lambda: store.sms_claims == 2 and queued(store, campaign) == 1)
    finally:
        dispatcher.stop()


def test_receipts_wake_a_round_held_back_by_the_lead(
    store: CountingStore, publisher: BusPublisher
) -> None:
    pacer = Pacer(lead_seconds=5, max_batch=1000)
    campaign = submit(store, PROBE + 5)
    dispatcher = running(store, publisher, batch_size=100, pacer=pacer)
    try:
        # Nothing measured yet: a probe's worth goes, then the thread waits for room.
        wait_for(lambda: queued(store, campaign) == PROBE)
        time.sleep(0.5)
        assert store.sms_claims == 1
        settle(pacer, store, campaign, S.DELIVERY_STATUS_SENT, PROBE)
        wait_for(lambda: queued(store, campaign) == 5)
        assert store.sms_claims == 2
    finally:
        dispatcher.stop()
