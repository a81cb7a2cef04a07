"""The receipt collector: applies adapters' receipts and feedback to the store.

A background thread consumes the receipts queue with a prefetch window,
applies what it holds in one transaction (receipts idempotently, suppression
events as list changes), commits, and only then acknowledges. A crash before
the ack redelivers the messages, which change nothing the second time.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from typing import Any, Final

from kombu import Consumer

from brandcast.orchestrator.events import CampaignEvents
from brandcast.orchestrator.pacing import Pacer
from brandcast.orchestrator.store import RECIPIENT_OPT_OUT_REASONS, Store
from brandcast.orchestrator.validation import normalize_address
from brandcast.shared import bus_compression, metrics, telemetry, topology
from brandcast.shared.bus import connect
from brandcast.v1 import bus_pb2

log = logging.getLogger(__name__)

MAX_BACKOFF: Final = 10.0
#: A receipt message arriving within this many seconds of the last joins its flush.
#: Short: under load the socket already holds the next messages, and a lone
#: receipt waits this long before a watcher can see it.
READY_WAIT: Final = 0.001
#: Receipts per transaction, and about the most a flush holds parsed at once.
APPLY_CHUNK: Final = 2000
#: Bytes of message bodies a flush takes from the broker at most (one message
#: more can cross it). The prefetch window counts messages: 200 of an adapter's
#: batch reports (~120 KB each once decompressed) held 24 MB while they waited,
#: the orchestrator's peak at 1M recipients; 200 provider callbacks of one
#: receipt each hold 40 KB. The rest of the window waits on the socket.
FLUSH_BYTES: Final = 1 << 20
#: Traces one ``apply receipts`` span links to at most.
MAX_TRACE_LINKS: Final = 32


class ReceiptCollector:
    def __init__(
        self,
        store: Store,
        broker_url: str,
        *,
        events: CampaignEvents | None = None,
        prefetch: int = 200,
        flush_interval: float = 0.2,
        pacer: Pacer | None = None,
    ) -> None:
        self._store = store
        self._pacer = pacer
        self._broker_url = broker_url
        self._events = events or CampaignEvents()
        self._prefetch = prefetch
        self._flush_interval = flush_interval
        self._pending: list[Any] = []
        #: Bytes of the pending messages' bodies.
        self._pending_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once the consumer is subscribed (tests and readiness wait on it).
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="receipt-collector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Apply and acknowledge what was received, then disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.0
            except Exception:
                log.exception("receipt collector lost its connection; reconnecting")
                # Unacknowledged messages return to the queue with the connection.
                self._pending.clear()
                self._pending_bytes = 0
                self.ready.clear()
                backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
                self._stop.wait(backoff)

    def _consume(self) -> None:
        # Adapters may compress their receipt batches (BUS_COMPRESSION).
        bus_compression.register()
        with connect(self._broker_url, heartbeat=30, connect_timeout=10) as connection:
            connection.ensure_connection(max_retries=1)
            consumer = Consumer(
                connection.default_channel,
                queues=[topology.receipts_queue()],
                # Not ``self._pending.append``: _flush swaps the list, and a bound
                # method would keep feeding the old one.
                on_message=self._on_message,
                prefetch_count=self._prefetch,
            )
            with consumer:
                self.ready.set()
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=self._flush_interval)
                    connection.heartbeat_check()
                    if not self._pending:
                        continue
                    # Take what is already on its way, then flush: a busy queue still
                    # fills whole batches, and a lone receipt is no longer held back
                    # for the flush interval (that was most of one-recipient latency).
                    self._drain_ready(connection)
                    self._flush()
                if self._pending:
                    self._flush()

    def _drain_ready(self, connection: Any) -> None:
        """Buffer receipt messages while they keep arriving within ``READY_WAIT`` of
        each other, up to the prefetch count, ``FLUSH_BYTES`` of bodies or the
        flush interval."""
        deadline = time.monotonic() + self._flush_interval
        while (
            len(self._pending) < self._prefetch
            and self._pending_bytes < FLUSH_BYTES
            and time.monotonic() < deadline
        ):
            before = len(self._pending)
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=READY_WAIT)
            if len(self._pending) == before:
                return

    def _on_message(self, message: Any) -> None:
        self._pending.append(message)
        self._pending_bytes += len(message.body)

    def _flush(self) -> None:
        """Apply, commit and acknowledge the buffered messages, a slice at a time.

        A backed-up queue hands over up to the prefetch count of messages at
        once, each a batch of hundreds of receipts: parsed all together they
        would be the orchestrator's peak memory. A slice ends once it holds
        ``APPLY_CHUNK`` receipts, and is acknowledged when its commit is done.
        """
        messages, self._pending = self._pending, []
        self._pending_bytes = 0
        # Popped as taken: an acknowledged message's body is freed with its slice.
        messages.reverse()
        part = _Slice()
        while messages:
            part.take(messages.pop())
            if len(part.receipts) >= APPLY_CHUNK:
                self._commit(part)
                part = _Slice()
        if part.messages:
            self._commit(part)

    def _commit(self, part: _Slice) -> None:
        changed = self._apply_receipts(part.receipts)
        if self._pacer is not None:
            # After the commit: deliveries handed back are in the outbox again
            # when the dispatcher wakes for the room they left on the bus.
            for report in part.reports:
                self._pacer.settled(report)
        for event in part.suppressions:
            self._apply_suppression(event)
        for message in part.messages:
            if any(message is bad for bad in part.poison):
                message.reject()
            else:
                message.ack()
        if changed:
            self._events.publish(changed)
        log.debug(
            "applied %d receipts, %d suppression events",
            len(part.receipts),
            len(part.suppressions),
        )

    def _apply_receipts(self, receipts: list[bus_pb2.DeliveryReceipt]) -> set[str]:
        """Commit ``receipts`` in one span joining the adapters' traces."""
        if not receipts:
            return set()
        contexts = {tuple(sorted(r.trace_context.items())) for r in receipts if r.trace_context}
        carriers = [dict(pairs) for pairs in sorted(contexts)][:MAX_TRACE_LINKS]
        # One trace: continue it. Several campaigns' traces: link them all.
        parent = carriers[0] if len(carriers) == 1 else None
        links = carriers if len(carriers) > 1 else []
        attributes: dict[str, telemetry.AttributeValue] = {"receipts": len(receipts)}
        changed: set[str] = set()
        with telemetry.span("apply receipts", parent, attributes=attributes, links=links):
            # A transaction per chunk: each holds its deliveries' rows locked
            # until it commits, and a dispatcher's claim may wait on them.
            # Receipts are idempotent, so a crash between chunks only means the
            # redelivered messages re-apply what already committed, to no effect.
            moved: collections.Counter[tuple[int, int]] = collections.Counter()
            for start in range(0, len(receipts), APPLY_CHUNK):
                changed |= self._store.apply_receipts(receipts[start : start + APPLY_CHUNK], moved)
        # Received counts every receipt; applied only those that moved a delivery
        # (a repeat, a late SENT after DELIVERED or an unknown id change nothing).
        counts = collections.Counter((r.channel, r.status) for r in receipts)
        for (channel, status), count in counts.items():
            labels = (_channel_label(channel), metrics.status_label(status))
            metrics.RECEIPTS_RECEIVED.labels(*labels).inc(count)
            if moved[(channel, status)]:
                metrics.RECEIPTS_APPLIED.labels(*labels).inc(moved[(channel, status)])
        return changed

    def _apply_suppression(self, event: bus_pb2.SuppressionEvent) -> None:
        try:
            address = normalize_address(event.channel, event.address)
        except ValueError as exc:
            log.warning("ignoring suppression event with a bad address: %s", exc)
            return
        if event.action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS:
            self._store.add_suppression(event.channel, address, event.reason, "recipient")
        elif event.action == bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS:
            # The person opted in again themselves (a START reply, the page's
            # re-subscribe): on record as theirs, and it undoes only their own opt-out.
            reason = event.reason or "the recipient opted in again"
            lifted = self._store.remove_suppression(
                event.channel,
                address,
                reason=reason,
                actor="recipient",
                only_reasons=RECIPIENT_OPT_OUT_REASONS,
            )
            if not lifted:
                log.info(
                    "a recipient's opt-in on %s lifted nothing: it lifts only their own opt-out",
                    _channel_label(event.channel),
                )


class _Slice:
    """Messages of one flush committed together, parsed."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.receipts: list[bus_pb2.DeliveryReceipt] = []
        self.reports: list[bus_pb2.ReceiptBatch] = []
        self.suppressions: list[bus_pb2.SuppressionEvent] = []
        self.poison: list[Any] = []

    def take(self, message: Any) -> None:
        self.messages.append(message)
        kind = message.properties.get("type", "")
        try:
            if kind == topology.RECEIPT_BATCH_TYPE:
                batch = bus_pb2.ReceiptBatch()
                batch.ParseFromString(message.body)
                self.receipts.extend(batch.receipts)
                self.reports.append(batch)
            elif kind == topology.SUPPRESSION_EVENT_TYPE:
                event = bus_pb2.SuppressionEvent()
                event.ParseFromString(message.body)
                self.suppressions.append(event)
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except Exception as exc:
            log.error("dropping unreadable message on the receipts queue: %s", exc)
            self.poison.append(message)


def _channel_label(channel: int) -> str:
    try:
        return topology.channel_name(channel)
    except ValueError:
        return "unknown"
