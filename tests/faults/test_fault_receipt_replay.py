"""Scenario 7: every receipt replayed three times, shuffled, through the real
bus into the real receipt collector: one record per delivery, and no delivery's
state ever moves backwards (sampled while the replay is being applied)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from brandcast.orchestrator.server import Orchestrator, bootstrap
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import STATUS_RANK, Store
from brandcast.orchestrator.store.schema import deliveries
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2
from tests.faults.rig import sms_spec

pytestmark = [pytest.mark.rabbitmq]

SIZE = 300
S = campaign_pb2


@pytest.fixture
def orchestrator(broker_url: str, database_url: str) -> Iterator[Orchestrator]:
    settings = OrchestratorSettings(
        broker_url=broker_url, database_url=database_url, receipt_prefetch=50
    )
    with BusPublisher(broker_url) as publisher:
        publisher.declare_topology()
    app = bootstrap(settings, store=Store.open(database_url), dispatch=False)
    app.start()
    assert app.collector is not None
    assert app.collector.ready.wait(10)
    try:
        yield app
    finally:
        app.stop()


def snapshot(store: Store, campaign_id: str) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.status).where(
                deliveries.c.campaign_id == campaign_id
            )
        ).all()
    return {str(row.id): int(row.status) for row in rows}


def receipt(campaign_id: str, delivery_id: str, status: int) -> bus_pb2.DeliveryReceipt:
    return bus_pb2.DeliveryReceipt(
        delivery_id=delivery_id,
        campaign_id=campaign_id,
        channel=S.CHANNEL_SMS,
        status=status,  # type: ignore[arg-type]
        provider="twilio",
        provider_message_id=f"SM{delivery_id}",
        attempts=1,
    )


def test_receipts_replayed_three_times_shuffled(
    orchestrator: Orchestrator, broker_url: str
) -> None:
    submitted = orchestrator.intake.submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=sms_spec(SIZE), idempotency_key="replay")
    )
    campaign_id = submitted.campaign.id
    store = orchestrator.store
    ids = sorted(snapshot(store, campaign_id))
    assert len(ids) == SIZE

    expected: dict[str, int] = {}
    receipts: list[bus_pb2.DeliveryReceipt] = []
    for index, delivery_id in enumerate(ids):
        final = S.DELIVERY_STATUS_DELIVERED if index % 3 else S.DELIVERY_STATUS_FAILED
        expected[delivery_id] = final
        for status in (S.DELIVERY_STATUS_SENT, final):
            receipts += [receipt(campaign_id, delivery_id, status)] * 3
    random.Random(7).shuffle(receipts)

    backwards = 0
    samples = 0
    previous = snapshot(store, campaign_id)
    with BusPublisher(broker_url) as publisher:
        for start in range(0, len(receipts), 40):
            publisher.publish_receipts(
                bus_pb2.ReceiptBatch(receipts=receipts[start : start + 40]), "sms"
            )
            current = snapshot(store, campaign_id)
            samples += 1
            backwards += sum(
                1
                for delivery_id, status in current.items()
                if STATUS_RANK[status] < STATUS_RANK[previous[delivery_id]]
            )
            previous = current

    deadline = time.monotonic() + 30
    while (current := snapshot(store, campaign_id)) != expected:
        assert time.monotonic() < deadline, "replayed receipts were not all applied"
        backwards += sum(
            1
            for delivery_id, status in current.items()
            if STATUS_RANK[status] < STATUS_RANK[previous[delivery_id]]
        )
        previous = current
        time.sleep(0.1)

    campaign = store.get_campaign(campaign_id)
    assert campaign is not None
    print(
        f"\nscenario=7 deliveries={SIZE} receipts_published={len(receipts)} "
        f"records={len(current)} moved_backwards={backwards} samples={samples}"
    )
    assert len(current) == SIZE
    assert backwards == 0
    assert campaign.state == S.CAMPAIGN_STATE_COMPLETED
