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
