"""A backed-up receipts queue is committed and acknowledged a slice at a time.

The collector's prefetch window can hand it hundreds of receipt batches at
once. Parsed together they were the orchestrator's peak memory (160 MB at
100,000 recipients in ``bench_e2e.py``); now a flush commits and acknowledges
each ``APPLY_CHUNK`` receipts before it parses further. Real messages from
the real queue, a real store on SQLite and PostgreSQL.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import select

from brandcast.orchestrator import collector as collector_module
from brandcast.orchestrator.collector import ReceiptCollector
from brandcast.orchestrator.intake import CampaignIntake
from brandcast.orchestrator.store import Store
from brandcast.orchestrator.store.schema import deliveries
from brandcast.shared import topology
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2, campaign_pb2, campaign_service_pb2
from tests.faults.rig import sms_spec

pytestmark = [pytest.mark.rabbitmq]

S = campaign_pb2
DELIVERIES = 300
PER_MESSAGE = 50
SLICE = 100


class RecordingStore(Store):
    """The real store, noting what each commit of receipts was handed and how
    many of the flushed messages had been acknowledged before it."""

    messages: list[Any]
    calls: list[tuple[int, int]]

    def apply_receipts(
        self,
        receipts: Sequence[bus_pb2.DeliveryReceipt],
        changed: collections.Counter[tuple[int, int]] | None = None,
    ) -> set[str]:
        acked = sum(message.acknowledged for message in self.messages)
        self.calls.append((len(receipts), acked))
        return super().apply_receipts(receipts, changed)


def _sent_reports(store: Store) -> tuple[str, list[bus_pb2.ReceiptBatch]]:
    """A campaign of ``DELIVERIES`` SMS, and an adapter's SENT reports for all
    of them, ``PER_MESSAGE`` receipts a message."""
    submitted = CampaignIntake(store).submit(
        campaign_service_pb2.SubmitCampaignRequest(spec=sms_spec(DELIVERIES))
    )
    campaign_id = submitted.campaign.id
    with store.engine.connect() as conn:
        ids = list(
            conn.execute(
                select(deliveries.c.id).where(deliveries.c.campaign_id == campaign_id)
            ).scalars()
        )
    batches = [
        bus_pb2.ReceiptBatch(
            receipts=[
                bus_pb2.DeliveryReceipt(
                    delivery_id=delivery_id,
                    campaign_id=campaign_id,
                    channel=S.CHANNEL_SMS,
                    status=S.DELIVERY_STATUS_SENT,
                    provider="twilio",
                    provider_message_id=f"SM{delivery_id}",
                    attempts=1,
                )
                for delivery_id in ids[start : start + PER_MESSAGE]
            ]
        )
        for start in range(0, len(ids), PER_MESSAGE)
    ]
    return campaign_id, batches


def test_a_backlog_is_committed_and_acknowledged_slice_by_slice(
    broker_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_module, "APPLY_CHUNK", SLICE)
    store = RecordingStore.open(database_url)
    assert isinstance(store, RecordingStore)
    store.messages, store.calls = [], []
    try:
        campaign_id, batches = _sent_reports(store)
        assert sum(len(b.receipts) for b in batches) == DELIVERIES

        with BusPublisher(broker_url) as publisher:
            publisher.declare_topology()
            for batch in batches:
                publisher.publish_receipts(batch, "sms")

        collector = ReceiptCollector(store, broker_url)
        with Connection(broker_url) as connection:
            queue = topology.receipts_queue()(connection.default_channel)
            while (message := queue.get(no_ack=False)) is not None:
                store.messages.append(message)
                collector._on_message(message)
            assert len(store.messages) == DELIVERIES // PER_MESSAGE
            collector._flush()

            # Two messages (100 receipts) per commit, each acknowledged before
            # the next slice is applied: never the whole backlog at once.
            assert store.calls == [(SLICE, acked) for acked in range(0, 6, 2)]
            assert all(message.acknowledged for message in store.messages)

        counters = store.counters(campaign_id)
        assert sum(c.sent for c in counters) == DELIVERIES
        # Acknowledged, so nothing comes back once the channel is gone.
        with Connection(broker_url) as connection:
            queue = topology.receipts_queue()(connection.default_channel)
            assert queue.get(no_ack=True) is None
    finally:
        store.close()


class FlushRecordingCollector(ReceiptCollector):
    """The real collector, noting the messages and body bytes of each flush."""

    flushes: list[tuple[int, int]]

    def _flush(self) -> None:
        self.flushes.append((len(self._pending), sum(len(m.body) for m in self._pending)))
        super()._flush()


def test_a_backlog_is_taken_from_the_broker_a_budget_of_bytes_at_a_time(
    broker_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The prefetch window counts messages: a full one of adapters' batch
    # reports held tens of megabytes of bodies while they waited for a flush.
    # The collector now stops taking messages once their bodies pass
    # FLUSH_BYTES; the rest wait on the socket for the next flush.
    store = Store.open(database_url)
    try:
        campaign_id, batches = _sent_reports(store)
        largest = max(len(b.SerializeToString()) for b in batches)
        budget = 2 * largest
        monkeypatch.setattr(collector_module, "FLUSH_BYTES", budget)
        with BusPublisher(broker_url) as publisher:
            publisher.declare_topology()
            for batch in batches:
                publisher.publish_receipts(batch, "sms")

        # The whole backlog fits the prefetch window; only the bytes stop it.
        collector = FlushRecordingCollector(store, broker_url, prefetch=200, flush_interval=1.0)
        collector.flushes = []
        collector.start()
        try:
            deadline = time.monotonic() + 30
            while sum(c.sent for c in store.counters(campaign_id)) < DELIVERIES:
                assert time.monotonic() < deadline, collector.flushes
                time.sleep(0.05)
        finally:
            collector.stop()
        assert sum(n for n, _ in collector.flushes) == len(batches)
        # Never more than the budget and the one message that crossed it.
        assert max(size for _, size in collector.flushes) < budget + largest
        assert len(collector.flushes) >= len(batches) // 3
    finally:
        store.close()
