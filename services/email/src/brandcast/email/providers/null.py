"""A provider that accepts every message without sending it, for benchmarks.

``EMAIL_PROVIDERS=null`` measures the pipeline's own cost (bus, worker, receipts,
store) with no SMTP or HTTP in the way. Never configure it in production: the
receipts say SENT although nothing left the machine.
"""

from __future__ import annotations

from brandcast.email.message import EmailMessage
from brandcast.email.providers.base import EmailProvider
from brandcast.shared.delivery import Outcome


class NullProvider(EmailProvider):
    name = "null"

    @classmethod
    def from_settings(cls, settings: object) -> NullProvider:
        return cls()

    def send(self, message: EmailMessage, *, idempotency_key: str) -> Outcome:
        return Outcome(provider=self.name, provider_message_id=idempotency_key)
