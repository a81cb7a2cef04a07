"""Retries with backoff on UNAVAILABLE, for the calls that are safe to repeat.

UNAVAILABLE means the call may or may not have reached the server (a refused
connection, a reset, a server draining on SIGTERM). Repeating it is only safe
when a second execution cannot do something the first one did not:

- reads (get, list, preview, watch) change nothing;
- a submit always carries an idempotency key (the client makes one when the
  caller gives none), so the server answers a repeat with the first campaign;
- a streamed submit is repeated only when its audience can be read again (a
  list or a CSV file, not a one-shot generator);
- cancel, pause, resume and add-suppression set a state, so doing it twice is
  doing it once; a duplicate carries an idempotency key like a submit;
- an export is repeated only before its first chunk arrived (the client
  never hands out the same rows twice).

``RemoveSuppression`` is not retried: a repeat after a lost answer says
``removed=False`` for a removal that happened, which is a wrong answer.
Nothing else (DEADLINE_EXCEEDED, INTERNAL...) is retried: the caller decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

import grpc

#: RPCs that may be repeated after UNAVAILABLE (see the module docstring for why).
RETRY_SAFE: Final = frozenset(
    {
        "SubmitCampaign",
        "SubmitCampaignStream",
        "PreviewCampaign",
        "GetCampaign",
        "ListCampaigns",
        "ListDeliveries",
        "WatchCampaign",
        "CancelCampaign",
        "PauseCampaign",
        "ResumeCampaign",
        "GetDelivery",
        "ExportDeliveries",
        "DuplicateCampaign",
        "AddSuppression",
        "ListSuppressions",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter between attempts of one call.

    ``attempts`` counts the first call: 1 turns retries off.
    """

    attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**retry)
        return random.uniform(0, ceiling)

    def should_retry(self, method: str, code: grpc.StatusCode | None, attempt: int) -> bool:
        """Whether attempt ``attempt`` (1-based) of ``method``, ended by ``code``, is repeated."""
        return (
            code == grpc.StatusCode.UNAVAILABLE and method in RETRY_SAFE and attempt < self.attempts
        )


NO_RETRY: Final = RetryPolicy(attempts=1)
