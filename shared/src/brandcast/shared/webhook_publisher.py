"""Publishing what a webhook server hears (receipts, suppressions) to the bus.

Every adapter's webhook server answers a provider only once what it published is
confirmed by the broker: a 200 means the orchestrator will see it, and a failed
publish is a 503 so that the provider calls again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from brandcast.shared import channels
from brandcast.shared.bus import BusPublisher
from brandcast.v1 import bus_pb2


class FeedbackPublisher(Protocol):
    def publish_receipts(self, batch: bus_pb2.ReceiptBatch, channel: str) -> None: ...

    def publish_suppression(self, event: bus_pb2.SuppressionEvent) -> None: ...


class WebhookPublisher:
    """One confirmed publisher shared by a webhook server's request threads, one call
    at a time.

    Delivery reports arrive in bursts (two per message sent). Receipts that come in
    while a publish is in flight wait for it and then go out together, in one
    message and one confirm; each caller still returns only once its own receipts
    are confirmed, and gets the error if they could not be.
    """

    def __init__(self, factory: Callable[[], FeedbackPublisher]) -> None:
        """``factory`` connects the publisher, on first use (not at import or start)."""
        self._factory = factory
        self._publisher: FeedbackPublisher | None = None
        self._lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_PendingReceipts] = []

    @classmethod
    def to_broker(cls, broker_url: str, origin: str) -> WebhookPublisher:
        """Publishing to the receipts exchange of ``broker_url`` with confirms."""
        return cls(lambda: BusPublisher(broker_url, origin=origin))

    def _get(self) -> FeedbackPublisher:
        if self._publisher is None:
            self._publisher = self._factory()
        return self._publisher

    def publish_receipts(self, batch: bus_pb2.ReceiptBatch, channel: str) -> None:
        mine = _PendingReceipts(channel, list(batch.receipts))
        with self._pending_lock:
            self._pending.append(mine)
        with self._lock:
            if not mine.confirmed.done():
                # Ours is not out yet: publish it, with whatever queued up behind
                # the publish this thread waited for.
                with self._pending_lock:
                    pending, self._pending = self._pending, []
                self._publish_together(pending)
        mine.confirmed.result()
        _count_published(channel, "receipt", len(batch.receipts))

    def publish_suppression(self, event: bus_pb2.SuppressionEvent) -> None:
        with self._lock:
            self._get().publish_suppression(event)
        _count_published(_channel_label(event.channel), "suppression", 1)

    def close(self) -> None:
        with self._lock:
            close = getattr(self._publisher, "close", None)
            if callable(close):
                close()
            self._publisher = None

    def _publish_together(self, pending: list[_PendingReceipts]) -> None:
        by_channel: dict[str, list[_PendingReceipts]] = {}
        for entry in pending:
            by_channel.setdefault(entry.channel, []).append(entry)
        for channel, entries in by_channel.items():
            receipts = [receipt for entry in entries for receipt in entry.receipts]
            try:
                self._get().publish_receipts(bus_pb2.ReceiptBatch(receipts=receipts), channel)
            except BaseException as exc:  # each waiting caller answers 503 with it
                for entry in entries:
                    entry.confirmed.set_exception(exc)
            else:
                for entry in entries:
                    entry.confirmed.set_result(None)


@dataclass
class _PendingReceipts:
    channel: str
    receipts: list[bus_pb2.DeliveryReceipt]
    confirmed: Future[None] = field(default_factory=Future)


def _channel_label(value: int) -> str:
    try:
        return channels.channel(value).name
    except channels.UnknownChannelError:
        return "unknown"


def _count_published(channel: str, kind: str, count: int) -> None:
    # Imported on use: a worker process must configure multiprocess metrics first.
    from brandcast.shared.metrics import WEBHOOK_PUBLISHED  # noqa: PLC0415

    WEBHOOK_PUBLISHED.labels(channel, kind).inc(count)
