"""How the CLI prints campaigns, progress, previews and deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from brandcast.v1 import campaign_pb2, campaign_service_pb2, variant_pb2

#: Counters in the order a delivery moves through them.
STATUS_NAMES: Final = (
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
UNSETTLED: Final = ("pending", "scheduled", "queued")


def channel_name(channel: int) -> str:
    return campaign_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()  # type: ignore[arg-type]


def state_name(state: int) -> str:
    return campaign_pb2.CampaignState.Name(state).removeprefix("CAMPAIGN_STATE_").lower()  # type: ignore[arg-type]


def status_name(status: int) -> str:
    return campaign_pb2.DeliveryStatus.Name(status).removeprefix("DELIVERY_STATUS_").lower()  # type: ignore[arg-type]


def network_name(value: int) -> str:
    return campaign_pb2.SocialNetwork.Name(value).removeprefix("SOCIAL_NETWORK_").lower()  # type: ignore[arg-type]


def encoding_name(value: int) -> str:
    return variant_pb2.SmsEncoding.Name(value).removeprefix("SMS_ENCODING_").lower()  # type: ignore[arg-type]


def counter_line(counter: campaign_pb2.ChannelCounters) -> str:
    parts = [f"{name} {getattr(counter, name)}" for name in STATUS_NAMES if getattr(counter, name)]
    return f"  {channel_name(counter.channel):<7} {counter.total:>6} total: " + ", ".join(parts)


def campaign_lines(campaign: campaign_pb2.Campaign) -> list[str]:
    lines = [f"campaign {campaign.id} {campaign.spec.name!r}: {state_name(campaign.state)}"]
    lines += [counter_line(counter) for counter in campaign.counters]
    return lines


def start_time(campaign: campaign_pb2.Campaign) -> dt.datetime | None:
    """When a scheduled campaign starts sending, or None when it is not waiting for a date."""
    if not campaign.spec.schedule.HasField("send_at"):
        return None
    when = campaign.spec.schedule.send_at.ToDatetime(tzinfo=dt.UTC)
    if campaign.state != campaign_pb2.CAMPAIGN_STATE_SCHEDULED and when <= dt.datetime.now(dt.UTC):
        return None
    return when


def starts_in(when: dt.datetime, now: dt.datetime | None = None) -> str:
    """``2026-12-03 09:00 UTC (in 20 h 41 min)``."""
    left = when - (now or dt.datetime.now(dt.UTC))
    minutes = max(0, int(left.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"]
    return f"{when:%Y-%m-%d %H:%M} UTC (in {' '.join(parts)})"


def progress_line(progress: campaign_service_pb2.CampaignProgress) -> str:
    """Settled out of total, then what is still awaited."""
    total = sum(c.total for c in progress.counters)
    waiting = {name: sum(getattr(c, name) for c in progress.counters) for name in UNSETTLED}
    settled = total - sum(waiting.values())
    done = {
        name: sum(getattr(c, name) for c in progress.counters)
        for name in STATUS_NAMES
        if name not in UNSETTLED
    }
    line = f"progress: {settled}/{total} settled"
    shown = [f"{name} {count}" for name, count in done.items() if count]
    if shown:
        line += " (" + ", ".join(shown) + ")"
    # The server says what completion waits for (delivery reports, a report window);
    # older servers do not, and then the unsettled counts are what is awaited.
    awaited = [f"{count} {name}" for name, count in waiting.items() if count]
    if progress.waiting_for:
        line += f"; waiting for {progress.waiting_for}"
    elif awaited:
        line += "; waiting for " + ", ".join(awaited)
    return line


def pace_lines(progress: campaign_service_pb2.CampaignProgress) -> list[str]:
    """Per channel still sending: its rate, what limits it, and the estimated time left."""
    return [
        f"  {channel_name(pace.channel):<7} {pace.summary}"
        for pace in progress.pace
        if pace.summary and pace.remaining
    ]


def preview_objects(
    spec: campaign_pb2.CampaignSpec, response: campaign_service_pb2.PreviewCampaignResponse
) -> list[dict[str, Any]]:
    """One JSON object per rendered variant."""
    members = {r.id: r for r in spec.audience}
    accounts = {a.id: a for a in spec.brand_kit.social_accounts}
    out: list[dict[str, Any]] = []
    for variant in response.variants:
        kind = variant.WhichOneof("variant")
        member = members.get(variant.recipient_id)
        # Like submit: no email delivery without an address, no SMS without a phone.
        if member is not None and (
            (kind == "email" and not member.email) or (kind == "sms" and not member.phone)
        ):
            continue
        item: dict[str, Any] = {"channel": channel_name(variant.channel)}
        if kind == "email":
            email = variant.email
            item |= {"recipient": variant.recipient_id, "subject": email.subject}
            item |= {"preheader": email.preheader, "html": email.html, "text": email.text}
        elif kind == "sms":
            sms = variant.sms
            item |= {"recipient": variant.recipient_id, "text": sms.text}
            item |= {"encoding": encoding_name(sms.encoding), "segments": sms.segments}
            item["characters"] = len(sms.text)
        elif kind == "social":
            post = variant.social
            account = accounts.get(variant.recipient_id)
            network = account.network if account else post.network
            item |= {"account": variant.recipient_id, "network": network_name(network)}
            item |= {"text": post.text, "length": post.length, "limit": post.limit}
        item["warnings"] = [
            {"code": w.code, "message": w.message, "field": w.field} for w in variant.warnings
        ]
        out.append(item)
    return out


def preview_text(item: dict[str, Any]) -> list[str]:
    """A variant for a terminal: who, the measures that matter for its channel, warnings, text."""
    channel = item["channel"]
    if channel == "email":
        head = f"--- email · {item['recipient']}"
        body = [f"Subject: {item['subject']}"]
        if item["preheader"]:
            body.append(f"Preheader: {item['preheader']}")
        body += ["", item["text"].rstrip()]
    elif channel == "sms":
        segments = "segment" if item["segments"] == 1 else "segments"
        head = (
            f"--- sms · {item['recipient']} · {item['segments']} {segments}, "
            f"{item['encoding']}, {item['characters']} characters"
        )
        body = [item["text"]]
    else:
        limit = f"/{item['limit']}" if item.get("limit") else ""
        head = (
            f"--- social · {item['account']} ({item['network']}) · "
            f"{item['length']}{limit} characters"
        )
        body = [item["text"]]
    warnings = [
        f"warning: {w['field'] + ': ' if w['field'] else ''}{w['message']} [{w['code']}]"
        for w in item["warnings"]
    ]
    return [head, *warnings, *body]


def delivery_line(delivery: campaign_pb2.Delivery) -> str:
    """``sms     sent        1  +14155550101`` and the error, if any."""
    error = f"  {delivery.error_code}: {delivery.error_message}" if delivery.error_code else ""
    return (
        f"{channel_name(delivery.channel):<7} {status_name(delivery.status):<10} "
        f"{delivery.attempts:>2}  {delivery.address or delivery.recipient_id}{error}"
    )


def skipped_line(skipped: campaign_service_pb2.SkippedAddress) -> str:
    return (
        f"skipped: {channel_name(skipped.channel)} to {skipped.address!r} of "
        f"{skipped.recipient_id} ({skipped.field}): {skipped.reason}"
    )
