"""Vonage's webhooks: signed delivery reports and inbound messages (Messages API v1).

Vonage signs each webhook with a JWT in ``Authorization: Bearer``: HS256 with the
account's signature secret (``SMS_VONAGE_SIGNATURE_SECRET``), whose
``payload_hash`` claim is the SHA-256 of the body. The token is verified with
Vonage's own ``vonage-jwt`` and the hash compared, so a replayed token cannot
carry another body.

A status report (``POST /status/vonage?d=&c=``, the per-message ``webhook_url``)
says ``submitted``, ``delivered``, ``read``, ``rejected`` or ``undeliverable``;
an inbound message (``POST /inbound/vonage``) carries ``from``, ``text``, its
``message_uuid`` and Vonage's ``timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import jwt
from vonage_jwt.errors import VonageVerifyJwtError
from vonage_jwt.verify_jwt import verify_signature

from brandcast.sms.providers._port import (
    CAMPAIGN_PARAM,
    DELIVERY_PARAM,
    CallbackRequest,
    ForgedReportError,
    InvalidReportError,
    StatusReport,
)
from brandcast.v1 import campaign_pb2

S = campaign_pb2
#: Vonage's SMS message statuses -> ours. ``rejected``: Vonage refused it (never sent);
#: ``undeliverable``: the carrier could not deliver it (a bounce).
VONAGE_STATUSES: Final[dict[str, campaign_pb2.DeliveryStatus.ValueType]] = {
    "submitted": S.DELIVERY_STATUS_SENT,
    "delivered": S.DELIVERY_STATUS_DELIVERED,
    "read": S.DELIVERY_STATUS_DELIVERED,
    "rejected": S.DELIVERY_STATUS_FAILED,
    "undeliverable": S.DELIVERY_STATUS_BOUNCED,
}


def verified_json(headers: Any, body: bytes, signature_secret: str) -> dict[str, Any]:
    """The JSON body of a webhook Vonage signed, or :class:`ForgedReportError`."""
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not token or not signature_secret:
        raise ForgedReportError("Authorization: a Vonage-signed bearer JWT is required")
    try:
        if not verify_signature(token, signature_secret):
            raise ForgedReportError("the JWT's signature does not match")
        claims = jwt.decode(token, signature_secret, algorithms=["HS256"])
    except (VonageVerifyJwtError, jwt.PyJWTError) as exc:
        raise ForgedReportError(f"the JWT cannot be verified: {exc}") from exc
    digest = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(str(claims.get("payload_hash", "")).encode(), digest.encode()):
        raise ForgedReportError("payload_hash does not match the body")
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise InvalidReportError("body: not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidReportError("body: expected a JSON object")
    return parsed


class VonageReports:
    """Vonage's status webhooks, checked against the signature secret."""

    def __init__(self, signature_secret: str) -> None:
        self._secret = signature_secret

    def read(self, request: CallbackRequest) -> StatusReport | None:
        body = verified_json(request.headers, request.body, self._secret)
        delivery_id = request.query.get(DELIVERY_PARAM, "")
        if not delivery_id:
            raise InvalidReportError("d: the delivery id is missing from the URL")
        status = VONAGE_STATUSES.get(str(body.get("status", "")).lower())
        if status is None:
            return None
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        kind = str(error.get("type") or "")
        code = kind.rsplit("#", 1)[1] if "#" in kind else str(error.get("title") or "")
        failed = status not in (S.DELIVERY_STATUS_SENT, S.DELIVERY_STATUS_DELIVERED)
        return StatusReport(
            delivery_id=delivery_id,
            campaign_id=request.query.get(CAMPAIGN_PARAM, ""),
            message_id=str(body.get("message_uuid", "")),
            status=status,
            error_code=code if failed else "",
            error_message=str(error.get("detail") or "") if failed else "",
        )


@dataclass(frozen=True)
class InboundMessage:
    sender: str
    recipient: str
    text: str
    message_id: str
    #: Epoch seconds Vonage received it (its ``timestamp``).
    sent_at: float


def read_inbound(headers: Any, body: bytes, signature_secret: str) -> InboundMessage:
    """An inbound SMS Vonage signed; raises ForgedReportError / InvalidReportError."""
    message = verified_json(headers, body, signature_secret)
    sender = str(message.get("from") or "")
    if not sender:
        raise InvalidReportError("from: missing")
    try:
        sent_at = datetime.fromisoformat(str(message.get("timestamp"))).timestamp()
    except ValueError as exc:
        raise InvalidReportError("timestamp: not an ISO 8601 time") from exc
    return InboundMessage(
        sender=sender if sender.startswith("+") else f"+{sender}",
        recipient=str(message.get("to") or ""),
        text=str(message.get("text") or ""),
        message_id=str(message.get("message_uuid") or ""),
        sent_at=sent_at,
    )
