"""Reading HTTP providers' answers the same way in every adapter."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import httpx

from brandcast.shared.errors import TransientProviderError


class JsonAnswer(Protocol):
    """An HTTP response (``httpx.Response``): only its JSON body is read."""

    def json(self) -> Any: ...


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def json_object(answer: JsonAnswer) -> dict[str, Any]:
    """The JSON object of an answer, or ``{}`` when its body is not one."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@contextlib.contextmanager
def transport_failures_are_outages(
    provider: str, *, label: str = "", unreachable: str = "unreachable"
) -> Iterator[None]:
    """Inside the block, a timeout or a failed connection is a retryable outage of
    ``provider`` (``outage=True`` lets failover try the next provider).

    ``label`` names the provider in the message (default: ``provider``); ``unreachable``
    is the error code of a failed connection. The exception's text is left out: it may
    carry a URL with credentials.
    """
    who = label or provider
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            "timeout",
            f"{who} did not answer in time ({type(exc).__name__})",
            provider=provider,
            outage=True,
        ) from exc
    except httpx.TransportError as exc:
        raise TransientProviderError(
            unreachable,
            f"{who} is unreachable ({type(exc).__name__})",
            provider=provider,
            outage=True,
        ) from exc
