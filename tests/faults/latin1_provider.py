"""A provider plug-in with a real-world bug, loaded through ``SMS_PROVIDERS``'s dotted path.

It speaks Twilio's API but encodes each body to Latin-1 first, as a legacy SMS
gateway client would: a body with a character outside Latin-1 raises a plain
``UnicodeEncodeError`` every time, before any request leaves. Bodies within
Latin-1 are sent as Twilio's provider sends them.
"""

from __future__ import annotations

from brandcast.shared.delivery import Outcome
from brandcast.sms.providers._port import ReportCallback
from brandcast.sms.providers.twilio import TwilioProvider


class Latin1TwilioProvider(TwilioProvider):
    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        body = text.encode("latin-1").decode("latin-1")
        return super().send(to, sender, body, idempotency_key=idempotency_key, report=report)
