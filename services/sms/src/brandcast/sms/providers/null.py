"""A provider that accepts every message without sending it, for benchmarks.

``SMS_PROVIDERS=null`` measures the pipeline's own cost with no HTTP call. Never
configure it in production: the receipts say SENT although nothing was sent.
"""

from __future__ import annotations

from brandcast.shared.delivery import Outcome


class NullProvider:
    name = "null"

    def send(
        self, to: str, sender: str, text: str, *, idempotency_key: str, status_callback: str
    ) -> Outcome:
        return Outcome(provider=self.name, provider_message_id=idempotency_key)

    def find_sent(self, to: str, sender: str, text: str, *, since: float) -> Outcome | None:
        return None  # nothing was sent, so nothing can be sent twice

    def close(self) -> None:
        """Nothing to release."""
