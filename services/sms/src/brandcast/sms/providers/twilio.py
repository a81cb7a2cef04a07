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
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError
from brandcast.sms.providers._http import get, json_body, post, raise_for_error

#: Messages of one To/From pair read by a lookup (Twilio's page size, newest first).
LOOKUP_PAGE_SIZE = 50


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

    def send(
        self, to: str, sender: str, text: str, *, idempotency_key: str, status_callback: str
    ) -> Outcome:
        form = {"To": to, "From": sender, "Body": text}
        if status_callback:
            form["StatusCallback"] = status_callback
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
