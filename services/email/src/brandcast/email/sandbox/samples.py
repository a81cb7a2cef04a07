"""Sample email dispatch items and batches, for trying a deployment and for tests."""

from __future__ import annotations

import uuid

from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


def sample_item(address: str, number: int = 1, **variant: str) -> bus_pb2.DispatchItem:
    """An email item to ``address``; ``variant`` overrides EmailVariant fields."""
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


def sample_batch(
    items: list[bus_pb2.DispatchItem], campaign_id: str = "c-sample"
) -> bus_pb2.DispatchBatch:
    return bus_pb2.DispatchBatch(
        batch_id=str(uuid.uuid4()),
        campaign_id=campaign_id,
        channel=campaign_pb2.CHANNEL_EMAIL,
        items=items,
    )
