"""Rows of the store as ``brandcast.v1`` messages."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.v1 import campaign_pb2

_COUNTER_FIELDS = {
    campaign_pb2.DELIVERY_STATUS_PENDING: "pending",
    campaign_pb2.DELIVERY_STATUS_SCHEDULED: "scheduled",
    campaign_pb2.DELIVERY_STATUS_QUEUED: "queued",
    campaign_pb2.DELIVERY_STATUS_SENT: "sent",
    campaign_pb2.DELIVERY_STATUS_DELIVERED: "delivered",
    campaign_pb2.DELIVERY_STATUS_FAILED: "failed",
    campaign_pb2.DELIVERY_STATUS_BOUNCED: "bounced",
    campaign_pb2.DELIVERY_STATUS_SUPPRESSED: "suppressed",
    campaign_pb2.DELIVERY_STATUS_CANCELLED: "cancelled",
    campaign_pb2.DELIVERY_STATUS_SKIPPED: "skipped",
}


def now_us() -> int:
    return time.time_ns() // 1000


def timestamp(us: int | None) -> Timestamp | None:
    if us is None:
        return None
    ts = Timestamp()
    ts.FromMicroseconds(us)
    return ts


def counters(rows: Iterable[Sequence[Any]]) -> list[campaign_pb2.ChannelCounters]:
    """ChannelCounters from ``(channel, status, count)`` rows, ordered by channel."""
    by_channel: dict[int, campaign_pb2.ChannelCounters] = {}
    for channel, status, count in rows:
        counter = by_channel.setdefault(channel, campaign_pb2.ChannelCounters(channel=channel))
        counter.total += count
        name = _COUNTER_FIELDS.get(status)
        if name:
            setattr(counter, name, getattr(counter, name) + count)
    return [by_channel[c] for c in sorted(by_channel)]


def campaign(
    row: Any, channel_counters: list[campaign_pb2.ChannelCounters]
) -> campaign_pb2.Campaign:
    spec = campaign_pb2.CampaignSpec()
    spec.ParseFromString(row.spec)
    message = campaign_pb2.Campaign(
        id=row.id,
        spec=spec,
        state=row.state,
        counters=channel_counters,
        created_at=timestamp(row.created_us),
        updated_at=timestamp(row.updated_us),
        idempotency_key=row.idempotency_key or "",
        audience_size=row.audience_size,
    )
    if row.completed_us is not None:
        message.completed_at.FromMicroseconds(row.completed_us)
    # Rows built by the intake (not read back) may lack the later columns.
    dispatched = getattr(row, "dispatched_us", None)
    if dispatched is not None:
        message.dispatched_at.FromMicroseconds(dispatched)
    window_ends = getattr(row, "report_window_ends_us", None)
    if window_ends is not None and row.state == campaign_pb2.CAMPAIGN_STATE_DISPATCHED:
        message.report_window_ends_at.FromMicroseconds(window_ends)
    message.test = bool(getattr(row, "test", 0))
    message.duplicated_from = getattr(row, "duplicated_from", "") or ""
    return message


def delivery(row: Any) -> campaign_pb2.Delivery:
    return campaign_pb2.Delivery(
        id=row.id,
        campaign_id=row.campaign_id,
        channel=row.channel,
        recipient_id=row.recipient_id,
        address=row.address,
        status=row.status,
        attempts=row.attempts,
        provider=row.provider,
        provider_message_id=row.provider_message_id,
        error_code=row.error_code,
        error_message=row.error_message,
        created_at=timestamp(row.created_us),
        updated_at=timestamp(row.updated_us),
        not_before=timestamp(row.not_before_us),
        public_url=row.public_url,
        idempotency_key=row.idempotency_key,
    )
