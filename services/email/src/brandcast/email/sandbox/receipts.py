"""Reading ``brandcast.receipts`` directly: for trying a deployment and for tests.

In production the orchestrator's collector consumes that queue; this reader
takes messages off it, so point it only at a vhost of your own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kombu import Connection

from brandcast.shared import topology
from brandcast.v1 import bus_pb2


@dataclass
class BusFeedback:
    receipts: list[bus_pb2.DeliveryReceipt] = field(default_factory=list)
    suppressions: list[bus_pb2.SuppressionEvent] = field(default_factory=list)


class ReceiptsReader:
    """Declares the receipts queue at once (so nothing published later is lost) and
    collects what arrives."""

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
                raise ValueError(f"unexpected message type {kind!r} on the receipts queue")

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


@contextmanager
def receipts_reader(broker_url: str) -> Iterator[ReceiptsReader]:
    with Connection(broker_url) as connection:
        yield ReceiptsReader(connection)
