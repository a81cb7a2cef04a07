"""The port every SMS provider implements, and how its delivery reports come back.

Sending: ``send(to, sender, text, idempotency_key=..., report=ReportCallback(...))``.
The :class:`ReportCallback` describes, independent of any provider, where this
one message's delivery reports should go; each provider puts it in its own
request the way its API wants (Twilio's ``StatusCallback``, Vonage's
``callback``/``client_ref``...).

Receiving: a provider class that supports delivery reports has a
``report_reader(settings) -> ReportReader`` class method. The webhooks server
routes ``POST /status/<provider>`` to that reader, which checks the provider's
signature scheme and maps the provider's report format (its status words, its
error codes) into a :class:`StatusReport`, which becomes the shared receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from brandcast.shared.delivery import Outcome
from brandcast.v1 import campaign_pb2

#: Query parameters carrying our ids in a report URL.
DELIVERY_PARAM = "d"
CAMPAIGN_PARAM = "c"


@dataclass(frozen=True)
class ReportCallback:
    """Where one message's delivery reports go, whoever the provider is."""

    #: Public base URL of ``brandcast-sms webhooks`` (``SMS_CALLBACK_BASE_URL``).
    base_url: str
    delivery_id: str
    campaign_id: str

    def url(self, provider: str) -> str:
        """The report URL for ``provider``; our ids ride in the query."""
        query = urlencode({DELIVERY_PARAM: self.delivery_id, CAMPAIGN_PARAM: self.campaign_id})
        return f"{self.base_url.rstrip('/')}/status/{provider}?{query}"


class SmsProvider(Protocol):
    #: Name recorded in receipts and used for rate-limit keys, e.g. ``"twilio"``.
    name: str

    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        """Hand one message to the provider, asking for reports as ``report`` says.

        Returns a SENT outcome with the provider's message id, or raises
        ``TransientProviderError`` / ``PermanentProviderError``.
        """
        ...

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        """The message this provider already accepted for a delivery, if it can tell.

        Called before a retry, because an earlier attempt may have been accepted
        although its answer was lost (timeout, connection cut). ``since`` is the
        earliest epoch second that attempt can have reached the provider. Returns
        None when there is no such message *or* the provider cannot look messages
        up (then a retry may send twice: see the README's table). Raises
        ``TransientProviderError`` when the lookup itself fails: better to wait
        than to guess.
        """
        ...

    def close(self) -> None:
        """Release the HTTP connections."""
        ...


@dataclass(frozen=True)
class CallbackRequest:
    """A provider's callback as it reached the webhooks server."""

    #: The URL as the provider called it (public base URL + path + query).
    url: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str]


@dataclass(frozen=True)
class StatusReport:
    """What one delivery report says, in our terms."""

    delivery_id: str
    campaign_id: str
    message_id: str
    status: campaign_pb2.DeliveryStatus.ValueType
    error_code: str = ""
    error_message: str = ""


class ForgedReportError(Exception):
    """The report's signature does not verify (answered 403, nothing published)."""


class InvalidReportError(ValueError):
    """The report cannot be read (answered 400 with this message)."""


class ReportReader(Protocol):
    """Reads one provider's delivery reports."""

    def read(self, request: CallbackRequest) -> StatusReport | None:
        """The report, or None for a status we do not track (acknowledged, ignored).

        Raises :class:`ForgedReportError` or :class:`InvalidReportError`.
        """
        ...
