"""Publishing Brandcast's bus messages to RabbitMQ.

Every publish waits for the broker's publisher confirm (kombu's
``confirm_publish``), so a returned call means the broker has the message on
disk. Many deliveries ride in one message, so confirming each message costs
little. A lost connection is retried transparently a bounded number of times.

Every payload is protobuf bytes (``application/x-protobuf``) named by the AMQP
``type`` property. Dispatch batches are also Celery protocol v2 task messages,
because the adapters are Celery workers: the task name and id ride in the
headers and the body is the batch itself (see ``brandcast.shared.bus_codec``).
Receipts and suppression events are plain protobuf bodies on the receipts
exchange.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from amqp.exceptions import ChannelError
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from brandcast.shared import bus_compression, embedded_broker, topology
from brandcast.v1 import bus_pb2

#: Reconnection attempts of one publish before the error reaches the caller.
PUBLISH_MAX_RETRIES: Final = 5

#: Where the embedded broker (``BROKER_URL=filesystem://``) keeps its messages.
EMBEDDED_BROKER_DIR_ENV: Final = "BROKER_FILESYSTEM_DIR"

# Every process that talks to the bus imports this module: from here on,
# filesystem:// writes each message whole (see embedded_broker).
embedded_broker.register()


def is_embedded(broker_url: str) -> bool:
    """True for kombu's filesystem transport: one machine, no RabbitMQ needed."""
    return broker_url.startswith("filesystem://")


def transport_options(broker_url: str) -> dict[str, Any]:
    """kombu transport options for ``broker_url``, shared by publishers and workers.

    RabbitMQ gets publisher confirms. The embedded filesystem transport keeps
    messages and exchange bindings in one folder every local process shares;
    it has no confirms (a write is durable when it returns) and no quorum queues.
    """
    if not is_embedded(broker_url):
        return {"confirm_publish": True}
    folder = Path(os.environ.get(EMBEDDED_BROKER_DIR_ENV, "var/broker")).resolve()
    for sub in ("messages", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    _create_exchange_tables(folder / "control")
    return {
        "data_folder_in": str(folder / "messages"),
        "data_folder_out": str(folder / "messages"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }


def _create_exchange_tables(control: Path) -> None:
    """Create each exchange's binding table, empty and whole, unless it exists.

    kombu's filesystem transport creates a missing table by opening it for
    writing *before* it takes the file lock, so processes that bind their
    queues at the same moment (the demo starts the three workers together)
    truncate each other's table: a channel's binding is lost and its batches
    are routed nowhere, or a reader finds half a table. A table that already
    exists is only ever updated under the lock. Written aside and linked into
    place, so no process ever sees an empty or partial file.
    """
    for exchange in topology.EXCHANGE_NAMES:
        table = control / f"{exchange}.exchange"
        if table.exists():
            continue
        draft = control / f".{exchange}.{uuid.uuid4().hex}"
        draft.write_text("[]")
        try:
            os.link(draft, table)
        except FileExistsError:
            pass  # another process created it first: its table is as good as ours
        finally:
            draft.unlink()


def connect(broker_url: str, **kwargs: Any) -> Connection:
    """A kombu connection to ``broker_url`` with Brandcast's transport options."""
    return Connection(broker_url, transport_options=transport_options(broker_url), **kwargs)


def celery_task_headers(
    task: str, *, task_id: str | None = None, origin: str = "brandcast"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Headers and properties of a Celery protocol v2 task message with one argument."""
    task_id = task_id or str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "<1 args>",
        "kwargsrepr": "{}",
        "origin": origin,
        "ignore_result": True,
    }
    properties = {"correlation_id": task_id, "reply_to": ""}
    return headers, properties


class BusPublisher:
    """Confirmed publishing of dispatch batches, receipts and suppression events.

    Not thread-safe: give each thread its own publisher.
    """

    def __init__(
        self,
        broker_url: str,
        *,
        origin: str = "brandcast",
        compression: bus_compression.Compression = "none",
    ) -> None:
        """``compression`` (``BUS_COMPRESSION``) applies to dispatch batches, dead
        letters and receipt batches: what is large. Suppression events stay plain."""
        self._connection = connect(broker_url, heartbeat=30, connect_timeout=10)
        self._origin = origin
        self._compression = bus_compression.header_value(compression)
        self._producer: Producer | None = None
        #: The queues each kind of message declares, bound to the producer's
        #: channel: built and bound once, as kombu's cache of what the connection
        #: declared already answers for them (a new queue definition per message,
        #: bound afresh, was half of what publishing one cost).
        self._declares: dict[str, list[Queue]] = {}

    def __enter__(self) -> BusPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def declare_topology(self) -> None:
        """Declare every exchange and queue (idempotent)."""
        channel = self._connection.default_channel
        for queue in topology.all_queues():
            queue(channel).declare()

    def publish_dispatch(self, batch: bus_pb2.DispatchBatch) -> None:
        """Publish one batch to its channel's queue and wait for the confirm."""
        channel = topology.channel_name(batch.channel)
        headers, properties = celery_task_headers(
            topology.task_name(channel), task_id=batch.batch_id or None, origin=self._origin
        )
        self._publish(
            batch.SerializeToString(),
            exchange=topology.dispatch_exchange,
            routing_key=channel,
            headers=headers,
            compression=self._compression,
            type=topology.DISPATCH_BATCH_TYPE,
            content_type=topology.PROTOBUF_CONTENT_TYPE,
            content_encoding="binary",
            declare=self._queues(
                f"dispatch:{channel}",
                lambda: [topology.dispatch_queue(channel), topology.dead_letter_queue(channel)],
            ),
            **properties,
        )

    def publish_dead_letter(self, batch: bus_pb2.DispatchBatch) -> None:
        """Park a batch in its channel's dead-letter queue, still replayable as a task."""
        channel = topology.channel_name(batch.channel)
        headers, properties = celery_task_headers(topology.task_name(channel), origin=self._origin)
        self._publish(
            batch.SerializeToString(),
            exchange=topology.dead_letter_exchange,
            routing_key=channel,
            headers=headers,
            compression=self._compression,
            type=topology.DISPATCH_BATCH_TYPE,
            content_type=topology.PROTOBUF_CONTENT_TYPE,
            content_encoding="binary",
            declare=self._queues(
                f"dead-letter:{channel}", lambda: [topology.dead_letter_queue(channel)]
            ),
            **properties,
        )

    def publish_receipts(self, batch: bus_pb2.ReceiptBatch, channel: str) -> None:
        self._publish(
            batch.SerializeToString(),
            exchange=topology.receipts_exchange,
            routing_key=topology.RECEIPT_ROUTING_KEY_PREFIX + channel,
            compression=self._compression,
            type=topology.RECEIPT_BATCH_TYPE,
            content_type=topology.PROTOBUF_CONTENT_TYPE,
            content_encoding="binary",
            declare=self._queues("receipts", lambda: [topology.receipts_queue()]),
        )

    def publish_suppression(self, event: bus_pb2.SuppressionEvent) -> None:
        self._publish(
            event.SerializeToString(),
            exchange=topology.receipts_exchange,
            routing_key=topology.SUPPRESSION_ROUTING_KEY,
            type=topology.SUPPRESSION_EVENT_TYPE,
            content_type=topology.PROTOBUF_CONTENT_TYPE,
            content_encoding="binary",
            declare=self._queues("receipts", lambda: [topology.receipts_queue()]),
        )

    def close(self) -> None:
        self._connection.release()

    def _queues(self, key: str, define: Callable[[], list[Queue]]) -> list[Queue]:
        queues = self._declares.get(key)
        if queues is None:
            channel = self._current_producer().channel
            queues = self._declares[key] = [queue.bind(channel) for queue in define()]
        return queues

    def _current_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._connection)
        return self._producer

    def _publish(self, body: str | bytes, *, exchange: Exchange, **kwargs: Any) -> None:
        for attempt in (1, 2):
            producer = self._current_producer()
            publish = self._connection.ensure(
                producer, producer.publish, max_retries=PUBLISH_MAX_RETRIES
            )
            try:
                publish(body, exchange=exchange, delivery_mode=2, retry=False, **kwargs)
                return
            except (
                *self._connection.recoverable_connection_errors,
                ChannelError,
                OperationalError,
                OSError,
            ):
                if attempt == 2:
                    raise
                # After a broker restart the producer's channel is gone and the
                # entities it declared are bound to it: ensure() cannot revive
                # that, so start again from a fresh connection.
                self._reconnect()

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.release()
        self._connection = self._connection.clone()
        self._producer = None
        self._declares.clear()
