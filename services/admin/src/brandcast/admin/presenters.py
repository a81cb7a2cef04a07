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
    "skipped",
)
#: Statuses past the hand-off to a provider: they make up a channel's progress.
PROCESSED_STATUSES = (
    "sent",
    "delivered",
    "failed",
    "bounced",
    "suppressed",
    "cancelled",
    "skipped",
)
#: The stacked bar's parts, in order, with what each means to a marketer. What
#: is not in them (pending, scheduled, queued) is the bar's empty remainder.
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("delivered", "delivered"),
    ("sent", "sent, awaiting report"),
    ("failed", "failed"),
    ("bounced", "bounced"),
    ("suppressed", "suppressed"),
    ("skipped", "skipped (invalid address)"),
    ("cancelled", "cancelled"),
)
#: Outcomes that are a failure of a send (a skipped address was never tried).
FAILURE_STATUSES = ("failed", "bounced")
FINAL_CAMPAIGN_STATES = frozenset({"completed", "cancelled"})
#: What a campaign's state means, for people.
STATE_LABELS = {
    "scheduled": "scheduled",
    "dispatching": "sending",
    "dispatched": "sent, awaiting reports",
    "completed": "complete",
    "cancelled": "cancelled",
    "paused": "paused",
}
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


def _outcomes(final: bool) -> tuple[tuple[str, str], ...]:
    """The outcome labels; once the campaign is over, nothing awaits a report."""
    if not final:
        return OUTCOMES
    return tuple((s, "sent" if s == "sent" else label) for s, label in OUTCOMES)


def _segments(counts: dict[str, int], total: int, final: bool) -> list[dict[str, object]]:
    """The stacked bar: each outcome's start and width in percent of the total."""
    out: list[dict[str, object]] = []
    start = 0.0
    for status, label in _outcomes(final):
        width = 0.0 if total == 0 else counts[status] * 100 / total
        out.append(
            {
                "status": status,
                "label": label,
                "count": counts[status],
                "x": round(start, 3),
                "width": round(width, 3),
            }
        )
        start += width
    return out


def channel_progress(
    counters: Iterable[campaign_pb2.ChannelCounters], *, final: bool = False
) -> list[dict[str, object]]:
    """Per channel: counts per status, the stacked outcome bar and its summary.

    Only deliveries that reached the recipient count as delivered; failures,
    bounces, skips and cancellations are parts of their own colour, never of
    the progress a marketer reads as success.
    """
    progress: list[dict[str, object]] = []
    for counter in counters:
        name = CHANNELS.get(counter.channel, "unknown")
        counts = {status: int(getattr(counter, status)) for status in STATUSES}
        processed = sum(counts[s] for s in PROCESSED_STATUSES)
        total = int(counter.total)
        failures = sum(counts[s] for s in FAILURE_STATUSES)
        waiting = counts["pending"] + counts["scheduled"] + counts["queued"]
        summary = [f"{counts[s]} {label}" for s, label in _outcomes(final) if counts[s]]
        if waiting:
            summary.append(f"{waiting} not sent yet")
        label = CHANNEL_LABELS.get(name, name)
        progress.append(
            {
                "channel": name,
                "label": label,
                "total": total,
                "processed": processed,
                "percent": 100 if total == 0 else min(100, processed * 100 // total),
                "delivered_percent": 0 if total == 0 else counts["delivered"] * 100 // total,
                "failures": failures,
                "waiting": waiting,
                "counts": counts,
                "segments": _segments(counts, total, final),
                "summary": ", ".join(summary) or "no deliveries",
                "aria": f"{label}: " + (", ".join(summary) or "no deliveries") + f" of {total}",
            }
        )
    return progress


def campaign_summary(campaign: campaign_pb2.Campaign) -> dict[str, object]:
    return {
        "id": campaign.id,
        "name": campaign.spec.name,
        "channels": enabled_channels(campaign.spec),
        "state": state_name(campaign.state),
        "state_label": STATE_LABELS.get(state_name(campaign.state), state_name(campaign.state)),
        "progress": channel_progress(
            campaign.counters, final=state_name(campaign.state) in FINAL_CAMPAIGN_STATES
        ),
        "failures": sum(int(getattr(c, s)) for c in campaign.counters for s in FAILURE_STATUSES),
        "test": campaign.test,
        "dispatched": timestamp_text(campaign.dispatched_at),
        "report_window_ends": timestamp_text(campaign.report_window_ends_at),
        "created": timestamp_text(campaign.created_at),
        "scheduled": timestamp_text(campaign.spec.schedule.send_at),
        "completed": timestamp_text(campaign.completed_at),
        "audience_size": int(campaign.audience_size),
        "pace": pace_lines(campaign.pace),
    }


def pace_lines(paces: Iterable[campaign_pb2.ChannelPace]) -> list[str]:
    """Each channel still sending, as the orchestrator words it:
    "SMS: 10/s (SMS_RATE_LIMIT), 20,000 left, about 33 min"."""
    return [pace.summary for pace in paces if pace.remaining and pace.summary]


def progress_event(progress: campaign_service_pb2.CampaignProgress) -> dict[str, object]:
    state = state_name(progress.state)
    return {
        "state": state,
        "state_label": STATE_LABELS.get(state, state),
        "final": state in FINAL_CAMPAIGN_STATES,
        "channels": channel_progress(progress.counters, final=state in FINAL_CAMPAIGN_STATES),
        "at": timestamp_text(progress.at),
        "waiting_for": progress.waiting_for,
        "pace": pace_lines(progress.pace),
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
        "provider_message_id": delivery.provider_message_id,
        "created": timestamp_text(delivery.created_at),
    }


def _precise_time(ts: timestamp_pb2.Timestamp) -> str:
    if not ts.seconds and not ts.nanos:
        return ""
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def delivery_history(delivery: campaign_pb2.Delivery) -> list[dict[str, object]]:
    """The delivery's events, oldest first, as the detail page lists them."""
    return [
        {
            "at": _precise_time(event.at),
            "status": status_name(event.status),
            "attempts": event.attempts,
            "provider": event.provider,
            "provider_message_id": event.provider_message_id,
            "error": ": ".join(p for p in (event.error_code, event.error_message) if p),
            "applied": event.applied,
            "source": event.source,
        }
        for event in delivery.history
    ]


def _warnings(warnings: Iterable[variant_pb2.RenderWarning]) -> list[dict[str, str]]:
    # "error": the variant lost what the marketer wrote (the body dropped, an empty text);
    # the page shows it as an error to fix before sending.
    return [
        {
            "code": w.code,
            "message": w.message,
            "field": w.field,
            "severity": (
                "error" if w.severity == variant_pb2.RenderWarning.SEVERITY_ERROR else "warning"
            ),
        }
        for w in warnings
    ]


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
