"""A provider that accepts every message without sending it, for benchmarks.

``SMS_PROVIDERS=null`` measures the pipeline's own cost with no HTTP call. Never
configure it in production: the receipts say SENT although nothing was sent.
"""

from __future__ import annotations

from typing import Any

from brandcast.shared.delivery import Outcome
from brandcast.sms.providers._port import ReportCallback


class NullProvider:
    name = "null"

    @classmethod
    def from_settings(cls, settings: Any) -> NullProvider:
        return cls()

    def send(
        self,
        to: str,
        sender: str,
        text: str,
        *,
        idempotency_key: str,
        report: ReportCallback | None = None,
    ) -> Outcome:
        return Outcome(provider=self.name, provider_message_id=idempotency_key)

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        return None  # nothing was sent, so nothing can be sent twice

    def close(self) -> None:
        """Nothing to release."""
