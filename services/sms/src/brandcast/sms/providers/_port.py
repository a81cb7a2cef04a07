"""The port every SMS provider implements."""

from __future__ import annotations

from typing import Protocol

from brandcast.shared.delivery import Outcome


class SmsProvider(Protocol):
    #: Name recorded in receipts and used for rate-limit keys, e.g. ``"twilio"``.
    name: str

    def send(
        self, to: str, sender: str, text: str, *, idempotency_key: str, status_callback: str
    ) -> Outcome:
        """Hand one message to the provider.

        Returns a SENT outcome with the provider's message id, or raises
        ``TransientProviderError`` / ``PermanentProviderError``.
        """
        ...

    def close(self) -> None:
        """Release the HTTP connections."""
        ...
