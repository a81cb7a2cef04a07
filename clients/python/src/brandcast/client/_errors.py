"""What a failed call raises: one exception per gRPC status the API documents.

    BrandcastError                 .code (grpc.StatusCode), .message
     ├── InvalidArgumentError      INVALID_ARGUMENT; .violations: the BadRequest field violations
     ├── NotFoundError             NOT_FOUND: no campaign with that id
     ├── IdempotencyConflictError  ALREADY_EXISTS: the key was used for a different request
     ├── AuthenticationError       UNAUTHENTICATED: no or a wrong bearer token
     ├── PermissionDeniedError     PERMISSION_DENIED
     ├── FailedPreconditionError   FAILED_PRECONDITION: not possible in the campaign's state
     ├── UnavailableError          UNAVAILABLE: unreachable or draining (after the retries)
     ├── DeadlineExceededError     DEADLINE_EXCEEDED: the call's deadline passed
     └── BrandcastError itself     any other status (INTERNAL, RESOURCE_EXHAUSTED...)

``from_rpc_error`` translates grpc's errors at the client's boundary; the
original ``grpc.RpcError`` stays reachable as ``__cause__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import grpc
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

_STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``spec.audience[3].email``) and why."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class BrandcastError(Exception):
    """A call to Brandcast failed with ``code``."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(BrandcastError):
    """The request was refused; ``violations`` names each bad field and the reason."""

    def __init__(
        self, code: grpc.StatusCode, message: str, violations: tuple[FieldViolation, ...] = ()
    ) -> None:
        super().__init__(code, message)
        self.violations = violations


class NotFoundError(BrandcastError):
    """No campaign (or other resource) has that id."""


class IdempotencyConflictError(BrandcastError):
    """The idempotency key was already used for a different request."""


class AuthenticationError(BrandcastError):
    """No bearer token, or one the server does not accept."""


class PermissionDeniedError(BrandcastError):
    """The token is valid but may not do this."""


class FailedPreconditionError(BrandcastError):
    """The call is not possible in the resource's current state."""


class UnavailableError(BrandcastError):
    """The orchestrator could not be reached, or is shutting down."""


class DeadlineExceededError(BrandcastError):
    """The call's deadline passed before the answer came."""


_BY_CODE: Final[dict[grpc.StatusCode, type[BrandcastError]]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: IdempotencyConflictError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def status_code(error: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(error, "code", None)
    return code() if callable(code) else None


def field_violations(trailing_metadata: Any) -> tuple[FieldViolation, ...]:
    """The BadRequest field violations of a status's rich details, if any."""
    for key, value in trailing_metadata or ():
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        violations: list[FieldViolation] = []
        for detail in status.details:
            bad_request = error_details_pb2.BadRequest()
            if detail.Unpack(bad_request):
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
        return tuple(violations)
    return ()


def from_rpc_error(error: grpc.RpcError) -> BrandcastError:
    """The typed exception for a sync or asyncio gRPC error."""
    code = status_code(error) or grpc.StatusCode.UNKNOWN
    details = getattr(error, "details", None)
    message = (details() if callable(details) else None) or str(error)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        trailing = getattr(error, "trailing_metadata", None)
        metadata = trailing() if callable(trailing) else None
        return InvalidArgumentError(code, message, field_violations(metadata))
    return _BY_CODE.get(code, BrandcastError)(code, message)
