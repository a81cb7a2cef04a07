"""Protocol buffers turned into the plain values templates and the browser show."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from google.protobuf import timestamp_pb2

from brandcast.shared import channels
from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2

#: From the shared channel table: enum value -> name, name -> label.
CHANNELS: dict[int, str] = {c.value: c.name for c in channels.CHANNELS}
CHANNEL_LABELS = {c.name: c.label for c in channels.CHANNELS}
#: Counter fields in the order a delivery moves through them.
STATUSES = (
    "pending",
    "scheduled",
    "queued",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "suppressed",
    "cancelled",
)
#: Statuses past the hand-off to a provider: they make up a channel's progress.
PROCESSED_STATUSES = ("sent", "delivered", "failed", "bounced", "suppressed", "cancelled")
FINAL_CAMPAIGN_STATES = frozenset({"completed", "cancelled"})
_ENCODINGS: dict[int, str] = {
    variant_pb2.SMS_ENCODING_GSM7: "GSM-7",
    variant_pb2.SMS_ENCODING_UCS2: "UCS-2",
}


def channel_value(name: str) -> campaign_pb2.Channel.ValueType:
    """The Channel enum for "email", "sms" or "social"; UNSPECIFIED for anything else."""
    for value, known in CHANNELS.items():
        if known == name:
            return campaign_pb2.Channel.ValueType(value)
    return campaign_pb2.CHANNEL_UNSPECIFIED


def status_value(name: str) -> campaign_pb2.DeliveryStatus.ValueType:
    if name in STATUSES:
        return campaign_pb2.DeliveryStatus.Value(f"DELIVERY_STATUS_{name.upper()}")
    return campaign_pb2.DELIVERY_STATUS_UNSPECIFIED


def status_name(value: int) -> str:
    return campaign_pb2.DeliveryStatus.Name(value).removeprefix("DELIVERY_STATUS_").lower()  # type: ignore[arg-type]


def state_name(value: int) -> str:
    return campaign_pb2.CampaignState.Name(value).removeprefix("CAMPAIGN_STATE_").lower()  # type: ignore[arg-type]


def network_name(value: int) -> str:
    """The network's label; "Social" for a value the table does not know (an old campaign)."""
    try:
        return channels.network(value).label
    except channels.UnknownNetworkError:
        return "Social"


def timestamp_text(ts: timestamp_pb2.Timestamp) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M UTC")


def enabled_channels(spec: campaign_pb2.CampaignSpec) -> list[str]:
    # A campaign's settings for a channel are the ChannelSettings field of its name.
    return [c.name for c in channels.CHANNELS if getattr(spec.channels, c.name).enabled]


def channel_progress(counters: Iterable[campaign_pb2.ChannelCounters]) -> list[dict[str, object]]:
    """Per channel: counts per status and the share already handed off to providers."""
    progress: list[dict[str, object]] = []
    for counter in counters:
        name = CHANNELS.get(counter.channel, "unknown")
        counts = {status: int(getattr(counter, status)) for status in STATUSES}
        processed = sum(counts[s] for s in PROCESSED_STATUSES)
        total = int(counter.total)
        progress.append(
            {
                "channel": name,
                "label": CHANNEL_LABELS.get(name, name),
                "total": total,
                "processed": processed,
                "percent": 100 if total == 0 else min(100, processed * 100 // total),
                "counts": counts,
            }
        )
    return progress


def campaign_summary(campaign: campaign_pb2.Campaign) -> dict[str, object]:
    return {
        "id": campaign.id,
        "name": campaign.spec.name,
        "channels": enabled_channels(campaign.spec),
        "state": state_name(campaign.state),
        "progress": channel_progress(campaign.counters),
        "created": timestamp_text(campaign.created_at),
        "scheduled": timestamp_text(campaign.spec.schedule.send_at),
        "completed": timestamp_text(campaign.completed_at),
        "audience_size": int(campaign.audience_size),
    }


def progress_event(progress: campaign_service_pb2.CampaignProgress) -> dict[str, object]:
    state = state_name(progress.state)
    return {
        "state": state,
        "final": state in FINAL_CAMPAIGN_STATES,
        "channels": channel_progress(progress.counters),
        "at": timestamp_text(progress.at),
    }


def delivery_row(delivery: campaign_pb2.Delivery) -> dict[str, object]:
    error = ": ".join(part for part in (delivery.error_code, delivery.error_message) if part)
    return {
        "id": delivery.id,
        "channel": CHANNELS.get(delivery.channel, "unknown"),
        "recipient_id": delivery.recipient_id,
        "address": delivery.address,
        "status": status_name(delivery.status),
        "attempts": delivery.attempts,
        "provider": delivery.provider,
        "error": error,
        "public_url": delivery.public_url,
        "updated": timestamp_text(delivery.updated_at),
    }


def _warnings(warnings: Iterable[variant_pb2.RenderWarning]) -> list[dict[str, str]]:
    return [{"code": w.code, "message": w.message, "field": w.field} for w in warnings]


def preview_payload(
    response: campaign_service_pb2.PreviewCampaignResponse,
    spec: campaign_pb2.CampaignSpec,
) -> dict[str, object]:
    """What the compose page's preview panes draw, per channel."""
    handles = {a.id: a.handle for a in spec.brand_kit.social_accounts}
    email: list[dict[str, object]] = []
    sms: list[dict[str, object]] = []
    social: list[dict[str, object]] = []
    for variant in response.variants:
        kind = variant.WhichOneof("variant")
        warnings = _warnings(variant.warnings)
        if kind == "email":
            e = variant.email
            email.append(
                {
                    "recipient": variant.recipient_id,
                    "subject": e.subject,
                    "preheader": e.preheader,
                    "from": f"{e.from_name} <{e.from_address}>" if e.from_name else e.from_address,
                    "html": e.html,
                    "text": e.text,
                    "warnings": warnings,
                }
            )
        elif kind == "sms":
            s = variant.sms
            sms.append(
                {
                    "recipient": variant.recipient_id,
                    "text": s.text,
                    "encoding": _ENCODINGS.get(s.encoding, "unknown"),
                    "segments": s.segments,
                    "budget": spec.channels.sms.segment_budget or 1,
                    "characters": len(s.text),
                    "sender": s.sender,
                    "warnings": warnings,
                }
            )
        elif kind == "social":
            p = variant.social
            social.append(
                {
                    "account": p.account_id,
                    "handle": handles.get(p.account_id, p.account_id),
                    "network": network_name(p.network),
                    "text": p.text,
                    "length": p.length,
                    "limit": p.limit,
                    "over": p.limit > 0 and p.length > p.limit,
                    "warnings": warnings,
                }
            )
    return {"email": email, "sms": sms, "social": social, "warnings": _warnings(response.warnings)}
