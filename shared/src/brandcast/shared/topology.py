"""The one home of Brandcast's RabbitMQ topology.

The orchestrator and every adapter import these names and declarations; nothing
else about the bus is shared. Queues are durable quorum queues: they survive a
broker restart and replicate in a cluster. A message that keeps failing is
dead-lettered after ``DELIVERY_LIMIT`` redeliveries instead of looping.
"""

from __future__ import annotations

from typing import Final

from kombu import Exchange, Queue

from brandcast.shared import channels
from brandcast.shared.channels import dead_letter_queue_name, dispatch_queue_name, task_name

__all__ = ["dead_letter_queue_name", "dispatch_queue_name", "task_name"]

DISPATCH_EXCHANGE_NAME: Final = "brandcast.dispatch"
RECEIPTS_EXCHANGE_NAME: Final = "brandcast.receipts"
DEAD_LETTER_EXCHANGE_NAME: Final = "brandcast.dead"

RECEIPTS_QUEUE_NAME: Final = "brandcast.receipts"
#: Routing keys on the receipts exchange.
RECEIPT_ROUTING_KEY_PREFIX: Final = "receipt."
SUPPRESSION_ROUTING_KEY: Final = "feedback.suppression"

#: Redeliveries of one message (crashes, rejects) before it is dead-lettered.
DELIVERY_LIMIT: Final = 5

#: AMQP message type header values for bus payloads (all protobuf-encoded).
DISPATCH_BATCH_TYPE: Final = "brandcast.v1.DispatchBatch"
RECEIPT_BATCH_TYPE: Final = "brandcast.v1.ReceiptBatch"
SUPPRESSION_EVENT_TYPE: Final = "brandcast.v1.SuppressionEvent"
PROTOBUF_CONTENT_TYPE: Final = "application/x-protobuf"

#: ``brandcast.v1.Channel`` value -> channel name, from the channel table.
CHANNEL_NAMES: Final[dict[int, str]] = {c.value: c.name for c in channels.CHANNELS}

#: Every exchange of the topology.
EXCHANGE_NAMES: Final = (DISPATCH_EXCHANGE_NAME, RECEIPTS_EXCHANGE_NAME, DEAD_LETTER_EXCHANGE_NAME)

dispatch_exchange: Final = Exchange(DISPATCH_EXCHANGE_NAME, type="direct", durable=True)
receipts_exchange: Final = Exchange(RECEIPTS_EXCHANGE_NAME, type="topic", durable=True)
dead_letter_exchange: Final = Exchange(DEAD_LETTER_EXCHANGE_NAME, type="direct", durable=True)


def channel_name(channel: int) -> str:
    """The channel table's name for a ``brandcast.v1.Channel`` value.

    Raises ``channels.UnknownChannelError`` (a ``ValueError``) for any other value.
    """
    return channels.channel(channel).name


def dispatch_queue(channel: str) -> Queue:
    """The durable quorum queue an adapter consumes, bound with the channel name."""
    known = channels.channel(channel)
    return Queue(
        known.queue_name,
        exchange=dispatch_exchange,
        routing_key=known.routing_key,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE_NAME,
            "x-dead-letter-routing-key": channel,
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )


def dead_letter_queue(channel: str) -> Queue:
    """Where a channel's poison and exhausted batches end, kept for inspection."""
    return Queue(
        dead_letter_queue_name(channel),
        exchange=dead_letter_exchange,
        routing_key=channel,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def receipts_queue() -> Queue:
    """The orchestrator's queue of receipts and suppression feedback."""
    return Queue(
        RECEIPTS_QUEUE_NAME,
        exchange=receipts_exchange,
        routing_key="#",
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def all_queues() -> list[Queue]:
    """Every queue of the topology, for declaring it in one go."""
    queues = [receipts_queue()]
    for channel in CHANNEL_NAMES.values():
        queues += [dispatch_queue(channel), dead_letter_queue(channel)]
    return queues
