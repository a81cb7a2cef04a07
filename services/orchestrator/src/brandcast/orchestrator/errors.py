"""Expected business errors of the orchestrator, as callers see them by name.

    OrchestratorError
     ├── InvalidCampaignError     INVALID_ARGUMENT, one field violation per problem
     ├── CampaignNotFoundError    NOT_FOUND
     ├── IdempotencyConflictError ALREADY_EXISTS: the key was used with another request
     ├── CallEndedError           DEADLINE_EXCEEDED: the caller's deadline passed or it left;
     │                            the work stopped and nothing was committed
     ├── CampaignEndedError       FAILED_PRECONDITION: pause or resume of a completed or
     │                            cancelled campaign
     ├── ShuttingDownError        UNAVAILABLE: the server drains; retry or resume elsewhere
     └── TooManyWatchesError      RESOURCE_EXHAUSTED: a cap on open watches was reached

The gRPC servicers map these to status codes; anything else is a bug (INTERNAL).
"""

from __future__ import annotations

from collections.abc import Sequence

from brandcast.orchestrator.rendering import FieldViolation


class OrchestratorError(Exception):
    """An expected failure the caller can act on."""


class InvalidCampaignError(OrchestratorError):
    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class CampaignNotFoundError(OrchestratorError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign with id {campaign_id!r}")
        self.campaign_id = campaign_id


class CallEndedError(OrchestratorError):
    def __init__(self) -> None:
        super().__init__("the call's deadline passed or it was cancelled; nothing was stored")


class CampaignEndedError(OrchestratorError):
    """Mapped to FAILED_PRECONDITION like any ``OrchestratorError`` without its own code."""


class ShuttingDownError(OrchestratorError):
    def __init__(self, what: str) -> None:
        super().__init__(f"the orchestrator is shutting down; {what}")


class IdempotencyConflictError(OrchestratorError):
    def __init__(self, key: str, campaign_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used by campaign {campaign_id} "
            "with a different request"
        )
        self.key = key
        self.campaign_id = campaign_id


class TooManyWatchesError(OrchestratorError):
    def __init__(self, which: str) -> None:
        super().__init__(f"too many open watches: {which}; close one or retry later")
