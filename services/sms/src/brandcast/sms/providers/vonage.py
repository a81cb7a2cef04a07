"""Vonage's Messages API, a JSON-style provider used as the secondary.

``POST {base}/v1/messages`` with a JSON body (``message_type: text``,
``channel: sms``, numbers without the leading +), HTTP basic auth with the API
key and secret. Vonage has no idempotency key and no API to find a message
sent earlier, so the key travels in ``client_ref`` (echoed in its status
webhooks) and a retry after a lost answer may send twice: the reason it is the
secondary. Delivery reports are asked for per message (``webhook_url``, our
report URL) and come back signed (see ``vonage_webhooks``). Errors are RFC 7807
problem documents whose ``type`` URL ends in the Vonage error code, e.g.
``...#1150``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import TransientProviderError
from brandcast.sms.providers._http import json_body, post, raise_for_error
from brandcast.sms.providers._port import ReportCallback
from brandcast.sms.providers.vonage_webhooks import VonageReports

if TYPE_CHECKING:
    from brandcast.sms.settings import SmsSettings

#: Vonage limits client_ref to 100 characters.
CLIENT_REF_MAX = 100


def _vonage_number(number: str) -> str:
    return number[1:] if number.startswith("+") else number


class VonageProvider:
    name = "vonage"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("SMS_VONAGE_API_KEY and SMS_VONAGE_API_SECRET are required")
        self._url = f"{base_url.rstrip('/')}/v1/messages"
        self._client = httpx.Client(
            auth=(api_key, api_secret), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: SmsSettings) -> VonageProvider:
        return cls(
            settings.sms_vonage_base_url,
            settings.sms_vonage_api_key,
            settings.sms_vonage_api_secret,
            timeout=settings.sms_provider_timeout,
        )

    @classmethod
    def report_reader(cls, settings: SmsSettings) -> VonageReports:
        return VonageReports(settings.sms_vonage_signature_secret)

    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        payload = {
            "message_type": "text",
            "channel": "sms",
            "to": _vonage_number(to),
            "from": _vonage_number(sender),
            "text": text,
            "client_ref": idempotency_key[:CLIENT_REF_MAX],
        }
        if report is not None and report.base_url:
            payload["webhook_url"] = report.url(self.name)
            payload["webhook_version"] = "v1"
        response = post(self._client, self.name, self._url, json=payload)
        body = json_body(response)
        problem_type = str(body.get("type") or "")
        code = problem_type.rsplit("#", 1)[1] if "#" in problem_type else ""
        message = " - ".join(str(body[k]) for k in ("title", "detail") if body.get(k))
        raise_for_error(response, self.name, code, message)
        uuid = body.get("message_uuid")
        if not isinstance(uuid, str) or not uuid:
            raise TransientProviderError(
                "bad_response", "answer without a message_uuid", provider=self.name
            )
        return Outcome(provider=self.name, provider_message_id=uuid)

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        return None  # the Messages API cannot list sent messages: a retry may send twice

    def close(self) -> None:
        self._client.close()
