"""Helpers shared by the email integration tests (plain functions, no fixtures)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kombu import Connection

from brandcast.shared import topology
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


def email_item(address: str, number: int = 1, **variant: str) -> bus_pb2.DispatchItem:
    fields = {
        "subject": f"Spring sale #{number}",
        "text": f"Hello number {number}\n",
        "html": f"<p>Hello number <b>{number}</b></p>",
        "from_name": "Acme Shop",
        "from_address": "news@acme.example",
        "list_unsubscribe_url": f"https://acme.example/unsubscribe/t{number}",
    }
    fields.update(variant)
    return bus_pb2.DispatchItem(
        delivery_id=f"d-{number}-{uuid.uuid4().hex[:6]}",
        idempotency_key=f"k-{number}-{uuid.uuid4().hex[:8]}",
        address=address,
        email=variant_pb2.EmailVariant(**fields),
    )


def email_batch(items: list[bus_pb2.DispatchItem]) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()),
        campaign_id="c-it",
        channel=campaign_pb2.CHANNEL_EMAIL,
        items=items,
    )


@dataclass
class BusFeedback:
    receipts: list[bus_pb2.DeliveryReceipt] = field(default_factory=list)
    suppressions: list[bus_pb2.SuppressionEvent] = field(default_factory=list)


@contextmanager
def receipts_reader(broker_url: str) -> Iterator[ReceiptsReader]:
    with Connection(broker_url) as connection:
        reader = ReceiptsReader(connection)
        yield reader


class ReceiptsReader:
    """Reads ``brandcast.receipts`` in the test's vhost (declared at once, so nothing is lost)."""

    def __init__(self, connection: Connection) -> None:
        self._queue = topology.receipts_queue()(connection.default_channel)
        self._queue.declare()
        self.seen = BusFeedback()

    def _drain(self) -> None:
        while (message := self._queue.get(no_ack=True)) is not None:
            kind = message.properties.get("type")
            if kind == topology.RECEIPT_BATCH_TYPE:
                batch = bus_pb2.ReceiptBatch()
                batch.ParseFromString(message.body)
                self.seen.receipts.extend(batch.receipts)
            elif kind == topology.SUPPRESSION_EVENT_TYPE:
                event = bus_pb2.SuppressionEvent()
                event.ParseFromString(message.body)
                self.seen.suppressions.append(event)
            else:
                raise AssertionError(f"unexpected message type {kind!r} on the receipts queue")

    def wait(self, receipts: int = 0, suppressions: int = 0, timeout: float = 30.0) -> BusFeedback:
        """Poll until at least that many arrived; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            if len(self.seen.receipts) >= receipts and len(self.seen.suppressions) >= suppressions:
                return self.seen
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"got {len(self.seen.receipts)}/{receipts} receipts and "
                    f"{len(self.seen.suppressions)}/{suppressions} suppressions in {timeout}s"
                )
            time.sleep(0.05)

    def drain_now(self) -> BusFeedback:
        self._drain()
        return self.seen
