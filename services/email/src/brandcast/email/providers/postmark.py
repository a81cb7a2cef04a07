"""Postmark's HTTP API (``POST /email``) as an email provider.

Postmark has no idempotency-key header, so the key travels where its webhooks
and our logs can see it: in ``Metadata`` (with the delivery and campaign ids,
which the webhook endpoint uses to build receipts) and as the
``X-Brandcast-Idempotency-Key`` header of the message, next to the same
deterministic ``Message-ID`` the SMTP provider uses.

Answers: 200 with ``ErrorCode`` 0 is SENT; 429 (honouring ``Retry-After``) is
transient; 5xx, timeouts and refused connections are transient outages; 401 is
a transient outage too (a bad token fails every message: fail over, do not
burn the deliveries); any other 4xx is permanent with Postmark's ``ErrorCode``
and ``Message``.
"""

from __future__ import annotations

from email.headerregistry import Address
from typing import TYPE_CHECKING, Any

import httpx

from brandcast.email.message import EmailMessage
from brandcast.email.providers.base import EmailProvider
from brandcast.shared.delivery import Outcome
from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.http_answers import (
    json_object,
    retry_after_seconds,
    transport_failures_are_outages,
)

if TYPE_CHECKING:
    from brandcast.email.settings import EmailSettings

IDEMPOTENCY_HEADER = "X-Brandcast-Idempotency-Key"


class PostmarkProvider(EmailProvider):
    name = "postmark"

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> PostmarkProvider:
        return cls(
            settings.email_postmark_url,
            settings.email_postmark_token,
            message_stream=settings.email_postmark_message_stream,
            timeout=settings.email_postmark_timeout,
        )

    def __init__(
        self,
        base_url: str,
        server_token: str,
        *,
        message_stream: str = "broadcast",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not server_token:
            raise ValueError("EMAIL_POSTMARK_TOKEN is required for the postmark provider")
        self._message_stream = message_stream
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": server_token,
                "User-Agent": "brandcast-email",
            },
        )

    def payload(self, message: EmailMessage, idempotency_key: str) -> dict[str, Any]:
        """The JSON body of ``POST /email`` for ``message``."""
        headers = [
            {"Name": "Message-ID", "Value": message.message_id(idempotency_key)},
            {"Name": IDEMPOTENCY_HEADER, "Value": idempotency_key},
        ]
        if unsubscribe := message.list_unsubscribe():
            headers.append({"Name": "List-Unsubscribe", "Value": unsubscribe})
            if message.one_click:
                headers.append(
                    {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"}
                )
        body: dict[str, Any] = {
            # str(Address) quotes and encodes display names; the values were validated
            # (single address, no line breaks) when the message was built.
            "From": str(Address(message.from_name, addr_spec=message.from_address)),
            "To": str(Address(message.to_name, addr_spec=message.to_address)),
            "Subject": message.subject,
            "MessageStream": self._message_stream,
            "Headers": headers,
            "Metadata": {k: v for k, v in message.metadata.items() if v},
            "TrackOpens": False,
        }
        if message.text:
            body["TextBody"] = message.text
        if message.html:
            body["HtmlBody"] = message.html
        if message.reply_to:
            body["ReplyTo"] = message.reply_to
        return body

    def send(self, message: EmailMessage, *, idempotency_key: str) -> Outcome:
        with transport_failures_are_outages(
            self.name, label="Postmark", unreachable="connection_failed"
        ):
            response = self._client.post("/email", json=self.payload(message, idempotency_key))
        return self._outcome(response)

    def find_sent(self, delivery_id: str) -> Outcome | None:
        """Postmark's outbound search by our ``Metadata`` (``metadata_delivery_id``):
        only this delivery's messages carry that id."""
        params = {"count": "1", "offset": "0", "metadata_delivery_id": delivery_id}
        with transport_failures_are_outages(
            self.name, label="Postmark", unreachable="connection_failed"
        ):
            response = self._client.get("/messages/outbound", params=params)
        if response.status_code != 200:
            # Better to wait than to guess: a failed search never fails the delivery.
            _, text = _error_of(response)
            raise TransientProviderError(
                str(response.status_code),
                f"message search failed: {text or response.reason_phrase}",
                provider=self.name,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        messages = json_object(response).get("Messages") or []
        if not messages or not isinstance(messages[0], dict):
            return None
        return Outcome(provider=self.name, provider_message_id=str(messages[0].get("MessageID")))

    def close(self) -> None:
        self._client.close()

    def _outcome(self, response: httpx.Response) -> Outcome:
        error_code, text = _error_of(response)
        status = response.status_code
        if status == 200 and error_code in ("", "0"):
            message_id = json_object(response).get("MessageID", "")
            return Outcome(provider=self.name, provider_message_id=str(message_id))
        if status == 429:
            raise TransientProviderError(
                "429",
                text or "rate limited",
                provider=self.name,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise TransientProviderError(
                str(status), text or response.reason_phrase, provider=self.name, outage=True
            )
        if status == 401:
            raise TransientProviderError(
                error_code or "401", text or "unauthorized", provider=self.name, outage=True
            )
        raise PermanentProviderError(
            error_code or str(status), text or response.reason_phrase, provider=self.name
        )


def _error_of(response: httpx.Response) -> tuple[str, str]:
    data = json_object(response)
    code = data.get("ErrorCode")
    return ("" if code is None else str(code)), str(data.get("Message", ""))
