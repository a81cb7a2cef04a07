"""Twilio's Programmable Messaging API (and the emulator, which speaks it).

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded,
HTTP basic auth with the account SID and auth token. Errors come as JSON
``{"code": 21211, "message": "...", "status": 400}``.

Twilio's Messages API has **no idempotency key**: a request repeated after a
timeout or a cut connection sends a second SMS. So before a retry the delivery
looks for the message an earlier attempt may have created
(``GET .../Messages.json?To=&From=``, newest first: the same body, created since
the delivery was dispatched) and only sends when there is none. What remains is
described in the service README ("Duplicates").

Delivery reports: the report URL goes in ``StatusCallback``; Twilio posts a form
(``MessageSid``, ``MessageStatus``, ``ErrorCode``) signed with
``X-Twilio-Signature`` over the URL it called. :class:`TwilioReports` checks the
signature and maps Twilio's status words and error codes into a ``StatusReport``.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError
from brandcast.sms.providers._http import get, json_body, post, raise_for_error
from brandcast.sms.providers._port import (
    CAMPAIGN_PARAM,
    DELIVERY_PARAM,
    CallbackRequest,
    ForgedReportError,
    InvalidReportError,
    ReportCallback,
    StatusReport,
)
from brandcast.sms.signature import is_genuine_twilio_request
from brandcast.v1 import campaign_pb2

if TYPE_CHECKING:
    from brandcast.sms.settings import SmsSettings

#: Messages of one To/From pair read by a lookup (Twilio's page size, newest first).
LOOKUP_PAGE_SIZE = 50

_SENT = campaign_pb2.DELIVERY_STATUS_SENT
_DELIVERED = campaign_pb2.DELIVERY_STATUS_DELIVERED
_FAILED = campaign_pb2.DELIVERY_STATUS_FAILED
_BOUNCED = campaign_pb2.DELIVERY_STATUS_BOUNCED

#: Twilio's MessageStatus values -> ours. ``undelivered`` means the carrier
#: refused the handset (a bounce); ``failed`` means it never left Twilio.
TWILIO_STATUSES: Final[dict[str, campaign_pb2.DeliveryStatus.ValueType]] = {
    "accepted": _SENT,
    "queued": _SENT,
    "sending": _SENT,
    "sent": _SENT,
    "delivered": _DELIVERED,
    "read": _DELIVERED,
    "undelivered": _BOUNCED,
    "failed": _FAILED,
}

#: Common carrier error codes in delivery reports, for people reading receipts.
TWILIO_ERROR_MESSAGES: Final = {
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered by the carrier",
    "30008": "Unknown error",
    "21610": "Recipient replied STOP",
}


class TwilioProvider:
    name = "twilio"

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("SMS_TWILIO_ACCOUNT_SID and SMS_TWILIO_AUTH_TOKEN are required")
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._client = httpx.Client(
            auth=(account_sid, auth_token), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: SmsSettings) -> TwilioProvider:
        return cls(
            settings.sms_twilio_base_url,
            settings.sms_twilio_account_sid,
            settings.sms_twilio_auth_token,
            timeout=settings.sms_provider_timeout,
        )

    @classmethod
    def report_reader(cls, settings: SmsSettings) -> TwilioReports:
        return TwilioReports(settings.sms_twilio_auth_token, settings.sms_twilio_webhook_shared_key)

    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        form = {"To": to, "From": sender, "Body": text}
        if report is not None:
            form["StatusCallback"] = report.url(self.name)
        response = post(self._client, self.name, self._url, data=form)
        body = json_body(response)
        self._raise_for_error(response, body)
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            # Accepted but unreadable: the retry's lookup finds the message if it exists.
            raise TransientProviderError(
                "bad_response", "answer without a message sid", provider=self.name
            )
        return Outcome(provider=self.name, provider_message_id=sid)

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        params = {"To": to, "From": sender, "PageSize": str(LOOKUP_PAGE_SIZE)}
        response = get(self._client, self.name, self._url, params=params)
        body = json_body(response)
        self._raise_for_error(response, body)
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise TransientProviderError(
                "bad_response", "message list without messages", provider=self.name
            )
        for message in messages:
            if not isinstance(message, dict) or message.get("body") != text:
                continue
            if _created_at(message) >= since and isinstance(message.get("sid"), str):
                return Outcome(provider=self.name, provider_message_id=message["sid"])
        return None

    def _raise_for_error(self, response: httpx.Response, body: dict[str, object]) -> None:
        code = body.get("code")
        raise_for_error(
            response, self.name, str(code) if code else "", str(body.get("message") or "")
        )

    def close(self) -> None:
        self._client.close()


def _created_at(message: dict[str, object]) -> float:
    """``date_created`` (RFC 2822, as Twilio writes it) in epoch seconds; 0 if unreadable."""
    try:
        return parsedate_to_datetime(str(message.get("date_created"))).timestamp()
    except (TypeError, ValueError):
        return 0.0


class TwilioReports:
    """Twilio's status callbacks, checked against the account's auth token."""

    def __init__(self, auth_token: str, shared_key: str = "") -> None:
        self._auth_token = auth_token
        self._shared_key = shared_key

    def read(self, request: CallbackRequest) -> StatusReport | None:
        params = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        if not is_genuine_twilio_request(
            request.url,
            params,
            request.headers,
            auth_token=self._auth_token,
            shared_key=self._shared_key,
        ):
            raise ForgedReportError("X-Twilio-Signature does not match")
        delivery_id = request.query.get(DELIVERY_PARAM, "")
        if not delivery_id:
            raise InvalidReportError("d: the delivery id is missing from the URL")
        form = dict(params)
        raw_status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        status = TWILIO_STATUSES.get(raw_status.lower())
        if status is None:
            return None  # unknown or uninteresting (e.g. "receiving")
        error_code = form.get("ErrorCode", "") if status != _SENT else ""
        error_message = ""
        if error_code:
            error_message = TWILIO_ERROR_MESSAGES.get(error_code, f"carrier error {error_code}")
        return StatusReport(
            delivery_id=delivery_id,
            campaign_id=request.query.get(CAMPAIGN_PARAM, ""),
            message_id=form.get("MessageSid", ""),
            status=status,
            error_code=error_code,
            error_message=error_message,
        )
