"""The port every email provider implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from brandcast.email.message import EmailMessage
from brandcast.shared.delivery import Outcome
from brandcast.shared.ratelimit import RateLimiter


class EmailProvider(ABC):
    #: Goes into receipts (``DeliveryReceipt.provider``) and rate-limit keys.
    name: str

    @abstractmethod
    def send(self, message: EmailMessage, *, idempotency_key: str) -> Outcome:
        """Hand one message to the provider.

        Returns the SENT outcome with the provider's message id; raises
        ``TransientProviderError`` (retry; ``outage=True`` when the provider looks
        down) or ``PermanentProviderError`` (the delivery fails).
        """

    def find_sent(self, delivery_id: str) -> Outcome | None:
        """The message an earlier attempt of this delivery left, when the provider can
        tell (called before a retry: the earlier answer may have been lost). None when
        there is none or the provider cannot look (SMTP); a failed lookup raises
        ``TransientProviderError``."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections."""


class RateLimitedProvider(EmailProvider):
    """``provider`` behind a messages-per-second limit shared by all worker processes."""

    def __init__(self, provider: EmailProvider, limiter: RateLimiter) -> None:
        self.name = provider.name
        self._provider = provider
        self._limiter = limiter

    def send(self, message: EmailMessage, *, idempotency_key: str) -> Outcome:
        self._limiter.acquire()
        return self._provider.send(message, idempotency_key=idempotency_key)

    def find_sent(self, delivery_id: str) -> Outcome | None:
        return self._provider.find_sent(delivery_id)

    def close(self) -> None:
        self._provider.close()
