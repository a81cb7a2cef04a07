"""The rows a submission writes: one per recipient, one per delivery.

Tuples rather than dicts: a submission builds one per recipient and channel
(two million for a million recipients), and COPY writes a tuple as it is,
where a dict first had to be read back key by key (``bench/bench_row_building.py``:
building and formatting a delivery's row costs about a quarter less).
"""

from __future__ import annotations

from typing import NamedTuple


class NewRecipient(NamedTuple):
    campaign_id: str
    recipient_id: str
    # A serialized brandcast.v1.Recipient.
    data: bytes


class NewDelivery(NamedTuple):
    """A delivery as accepted: the columns of ``schema.deliveries`` that a
    submission sets (the rest take their defaults), in COPY's order."""

    id: str
    campaign_id: str
    channel: int
    recipient_id: str
    address: str
    status: int
    status_rank: int
    attempts: int
    provider: str
    provider_message_id: str
    error_code: str
    error_message: str
    public_url: str
    idempotency_key: str
    not_before_us: int
    created_us: int
    updated_us: int
    seq: int
