"""Call Brandcast from your system: a typed client of the orchestrator's gRPC API.

    from brandcast.client import Client, read_csv

    with Client("orchestrator.internal:50051", token="...") as client:
        result = client.submit_campaign(spec, audience=read_csv("customers.csv"))
        for event in client.watch(result.campaign.id):
            ...

``AsyncClient`` has the same methods for asyncio. Errors are the typed
exceptions of :mod:`brandcast.client._errors` (drawn there as a tree).
"""

from brandcast.client._async import AsyncClient
from brandcast.client._audience import CsvAudience, read_csv
from brandcast.client._config import DEFAULT_PORT, ClientConfig
from brandcast.client._errors import (
    AuthenticationError,
    BrandcastError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    IdempotencyConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from brandcast.client._requests import SubmitResult
from brandcast.client._retry import RETRY_SAFE, RetryPolicy
from brandcast.client._sync import Client

__all__ = [
    "DEFAULT_PORT",
    "RETRY_SAFE",
    "AsyncClient",
    "AuthenticationError",
    "BrandcastError",
    "Client",
    "ClientConfig",
    "CsvAudience",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "RetryPolicy",
    "SubmitResult",
    "UnavailableError",
    "read_csv",
]
