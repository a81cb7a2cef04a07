"""What rendering hands back besides variants: warnings wrapped with the variant, and errors.

    RenderError            a campaign (or one recipient's variant) that cannot be made valid;
      .violations          one FieldViolation per problem, each naming the spec field and why.

The orchestrator maps RenderError to INVALID_ARGUMENT with one google.rpc.BadRequest field
violation per entry, so every problem is collected before raising, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from brandcast.v1 import variant_pb2

T = TypeVar("T")


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one field of the campaign spec."""

    field: str
    description: str


class RenderError(Exception):
    """A campaign whose variants cannot be made valid. Maps to INVALID_ARGUMENT."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        if not violations:
            raise ValueError("RenderError needs at least one violation")
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    def __reduce__(self) -> tuple[type[RenderError], tuple[list[FieldViolation]]]:
        # Survives pickling (process pools, task results) with its violations intact.
        return (type(self), (self.violations,))

    @classmethod
    def single(cls, field: str, description: str) -> RenderError:
        return cls([FieldViolation(field, description)])


@dataclass(frozen=True)
class Rendered(Generic[T]):
    """A variant and the non-fatal notes made while rendering it."""

    variant: T
    warnings: list[variant_pb2.RenderWarning]


def warning(
    code: str,
    message: str,
    field: str,
    *,
    severity: variant_pb2.RenderWarning.Severity.ValueType = (
        variant_pb2.RenderWarning.SEVERITY_UNSPECIFIED
    ),
) -> variant_pb2.RenderWarning:
    return variant_pb2.RenderWarning(code=code, message=message, field=field, severity=severity)
