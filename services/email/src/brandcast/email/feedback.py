"""Provider events and unsubscribe tokens turned into bus messages (no HTTP here).

Postmark webhook records (``RecordType``):

- ``Delivery`` → receipt DELIVERED;
- ``Bounce`` → receipt BOUNCED with the bounce type as error code; a hard bounce
  (``HardBounce``, ``BadEmailAddress``) also suppresses the address;
- ``SpamComplaint`` → suppression (reason ``complaint``); the delivery itself was
  delivered, so no receipt;
- ``SubscriptionChange`` with ``SuppressSending: true`` → suppression: someone
  unsubscribed through Postmark's own link or an operator suppressed the address
  at Postmark (``ManualSuppression``: reason ``unsubscribe`` when the recipient did
  it, ``manual_suppression`` otherwise), or Postmark suppressed it after a hard
  bounce or complaint. A reactivation (``SuppressSending: false``) is not taken as
  consent: our suppression stays until removed in the admin, with its reason;
- anything else (opens, clicks, …) is ignored.

Receipts need our delivery id: the Postmark provider sends it in ``Metadata``,
which Postmark echoes in every webhook.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.shared.tokens import InvalidTokenError, verify
from brandcast.v1 import bus_pb2, campaign_pb2

HARD_BOUNCE_TYPES = frozenset({"HardBounce", "BadEmailAddress"})
PROVIDER = "postmark"


class InvalidEventError(ValueError):
    """A webhook body that is not a Postmark record we can read."""


@dataclass
class Feedback:
    receipts: list[bus_pb2.DeliveryReceipt] = field(default_factory=list)
    suppressions: list[bus_pb2.SuppressionEvent] = field(default_factory=list)


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    if isinstance(value, str) and value:
        try:
            stamp.FromDatetime(datetime.fromisoformat(value))
        except ValueError:
            pass
        else:
            return stamp
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value)


def _receipt(
    record: dict[str, Any], status: campaign_pb2.DeliveryStatus.ValueType, at: str
) -> bus_pb2.DeliveryReceipt | None:
    metadata = record.get("Metadata") or {}
    if not isinstance(metadata, dict) or not metadata.get("delivery_id"):
        return None  # not sent by us (or by an older version): nothing to attach it to
    return bus_pb2.DeliveryReceipt(
        delivery_id=str(metadata["delivery_id"]),
        campaign_id=str(metadata.get("campaign_id", "")),
        idempotency_key=str(metadata.get("idempotency_key", "")),
        channel=campaign_pb2.CHANNEL_EMAIL,
        status=status,
        provider=PROVIDER,
        provider_message_id=_text(record, "MessageID"),
        occurred_at=_timestamp(record.get(at)),
    )


def _suppression(
    record: dict[str, Any], address_key: str, reason: str, at: str
) -> bus_pb2.SuppressionEvent | None:
    address = _text(record, address_key).strip()
    if not address:
        return None
    metadata = record.get("Metadata") or {}
    delivery_id = str(metadata.get("delivery_id", "")) if isinstance(metadata, dict) else ""
    return bus_pb2.SuppressionEvent(
        channel=campaign_pb2.CHANNEL_EMAIL,
        address=address,
        action=bus_pb2.SuppressionEvent.ACTION_SUPPRESS,
        reason=reason,
        occurred_at=_timestamp(record.get(at)),
        delivery_id=delivery_id,
    )


_SUPPRESSION_REASONS = {"HardBounce": "hard_bounce", "SpamComplaint": "complaint"}


def _subscription_reason(record: dict[str, Any]) -> str:
    reason = _text(record, "SuppressionReason")
    if reason in _SUPPRESSION_REASONS:
        return _SUPPRESSION_REASONS[reason]
    return "unsubscribe" if _text(record, "Origin") == "Recipient" else "manual_suppression"


def feedback_from_postmark(record: object) -> Feedback:
    """The receipts and suppressions one Postmark webhook record stands for."""
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise InvalidEventError("RecordType: missing; not a Postmark webhook record")
    feedback = Feedback()
    kind = record["RecordType"]
    if kind == "Delivery":
        receipt = _receipt(record, campaign_pb2.DELIVERY_STATUS_DELIVERED, "DeliveredAt")
        if receipt is not None:
            feedback.receipts.append(receipt)
    elif kind == "Bounce":
        receipt = _receipt(record, campaign_pb2.DELIVERY_STATUS_BOUNCED, "BouncedAt")
        if receipt is not None:
            receipt.error_code = _text(record, "Type") or _text(record, "TypeCode")
            receipt.error_message = _text(record, "Description") or _text(record, "Details")
            feedback.receipts.append(receipt)
        if _text(record, "Type") in HARD_BOUNCE_TYPES:
            event = _suppression(record, "Email", "hard_bounce", "BouncedAt")
            if event is not None:
                feedback.suppressions.append(event)
    elif kind == "SubscriptionChange":
        if record.get("SuppressSending") is True:
            event = _suppression(record, "Recipient", _subscription_reason(record), "ChangedAt")
            if event is not None:
                feedback.suppressions.append(event)
    elif kind == "SpamComplaint":
        event = _suppression(record, "Email", "complaint", "BouncedAt")
        if event is not None:
            feedback.suppressions.append(event)
    return feedback


class UnsubscribeRefusedError(ValueError):
    """The token is forged, malformed or not for the email channel."""

    def __init__(self, reason: str, *, forged: bool) -> None:
        super().__init__(reason)
        #: True when the signature is wrong (403), False for a well-signed bad payload (400).
        self.forged = forged


@dataclass(frozen=True)
class UnsubscribeLink:
    """What a valid unsubscribe token says: whom, for which brand."""

    address: str
    delivery_id: str
    #: The brand's name and primary colour ("" in tokens made before they were added).
    brand: str
    brand_color: str

    @property
    def masked_address(self) -> str:
        """The address as the page shows it: enough to recognise, not to harvest."""
        local, _, domain = self.address.partition("@")
        return f"{local[:1]}{'•' * min(max(len(local) - 1, 3), 8)}@{domain}"

    def event(self, action: bus_pb2.SuppressionEvent.Action.ValueType) -> bus_pb2.SuppressionEvent:
        occurred = Timestamp()
        occurred.FromNanoseconds(time.time_ns())
        return bus_pb2.SuppressionEvent(
            channel=campaign_pb2.CHANNEL_EMAIL,
            address=self.address,
            action=action,
            reason=(
                "unsubscribe"
                if action == bus_pb2.SuppressionEvent.ACTION_SUPPRESS
                else "resubscribe"
            ),
            occurred_at=occurred,
            delivery_id=self.delivery_id,
        )


_REASONS: dict[int, str] = {
    bus_pb2.SuppressionEvent.ACTION_SUPPRESS: "unsubscribe",
    bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS: "resubscribe",
}
_HEX_COLOR = re.compile(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?")


def unsubscribe_link(token: str, secret: str) -> UnsubscribeLink:
    """The link a one-click unsubscribe token stands for; ``UnsubscribeRefusedError``
    for a forged or malformed one."""
    try:
        payload = verify(token, secret)
    except InvalidTokenError as exc:
        raise UnsubscribeRefusedError(f"token: {exc}", forged=True) from exc
    if payload.get("c") != "email":
        raise UnsubscribeRefusedError("token: not an email unsubscribe token", forged=False)
    address = payload.get("a", "").strip()
    if "@" not in address:
        raise UnsubscribeRefusedError("token: no email address in it", forged=False)
    color = payload.get("p", "")
    return UnsubscribeLink(
        address=address,
        delivery_id=payload.get("d", ""),
        brand=payload.get("b", ""),
        brand_color=color if _HEX_COLOR.fullmatch(color) else "",
    )


def unsubscribe_event(token: str, secret: str) -> bus_pb2.SuppressionEvent:
    """The suppression a one-click unsubscribe token asks for.

    Tokens are made by the orchestrator (``brandcast.shared.tokens.UnsubscribeLinks``,
    signed with ``UNSUBSCRIBE_SECRET``) and carry ``{"c": "email", "a": address,
    "d": delivery_id, "k": campaign_id}``; ``tokens.verify`` reads them.
    """
    return unsubscribe_link(token, secret).event(bus_pb2.SuppressionEvent.ACTION_SUPPRESS)
