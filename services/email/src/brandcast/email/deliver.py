"""One email dispatch item to one provider call: the adapter's core, as plain functions."""

from __future__ import annotations

from collections.abc import Callable

from brandcast.email.message import EmailMessage, message_from_item
from brandcast.shared.delivery import Outcome
from brandcast.v1 import bus_pb2

#: ``send(message, idempotency_key) -> Outcome``: a provider, or failover over several.
Send = Callable[[EmailMessage, str], Outcome]


def deliver_email(
    batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem, *, send: Send
) -> Outcome:
    """Validate ``item`` and send it; provider errors propagate to the shared runtime.

    The idempotency key falls back to the delivery id so a redelivered item always
    gets the same ``Message-ID``.
    """
    message = message_from_item(batch, item)
    return send(message, item.idempotency_key or item.delivery_id)
