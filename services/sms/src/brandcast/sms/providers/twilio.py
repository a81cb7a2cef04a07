"""Twilio's Programmable Messaging API (and the emulator, which speaks it).

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded,
HTTP basic auth with the account SID and auth token. The idempotency key goes in
``I-Twilio-Idempotency-Token`` so a retried request does not send twice. Errors
come as JSON ``{"code": 21211, "message": "...", "status": 400}``.
"""

from __future__ import annotations

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError
from brandcast.sms.providers._http import json_body, post, raise_for_error

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


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
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        response = post(self._client, self.name, self._url, data=form, headers=headers)
        body = json_body(response)
        code = body.get("code")
        raise_for_error(
            response, self.name, str(code) if code else "", str(body.get("message") or "")
        )
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            # Accepted but unreadable: retrying with the same idempotency token is safe.
            raise TransientProviderError(
                "bad_response", "answer without a message sid", provider=self.name
            )
        return Outcome(provider=self.name, provider_message_id=sid)

    def close(self) -> None:
        self._client.close()
