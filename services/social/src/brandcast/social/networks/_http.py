"""What the four networks' HTTP APIs have in common: transport errors, throttling, 5xx.

Each network module calls :func:`request` and then maps its own error bodies;
everything that means "try again later" is decided here, in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.http_answers import (
    json_object,
    retry_after_seconds,
    transport_failures_are_outages,
)

Clock = Callable[[], float]
#: Reads a network's own "when may I try again" header; returns seconds or None.
ResetHeader = Callable[[httpx.Headers, float], float | None]

#: The JSON object of a response, or an empty mapping for anything else.
json_body = json_object

#: Longest error text carried into a receipt.
MAX_ERROR_MESSAGE = 500


def request(
    client: httpx.Client, network: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send one request; transport failures become outages (retried, failover-worthy)."""
    with transport_failures_are_outages(network):
        return client.request(method, url, **kwargs)


def retry_after_header(headers: httpx.Headers, now: float) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date)."""
    return retry_after_seconds(headers.get("retry-after"), lambda: now)


def epoch_reset_header(name: str) -> ResetHeader:
    """A reset header in epoch seconds (X ``x-rate-limit-reset``, Bluesky ``ratelimit-reset``)."""

    def read(headers: httpx.Headers, now: float) -> float | None:
        try:
            return max(0.0, float(headers[name]) - now)
        except (KeyError, ValueError):
            return None

    return read


def iso_reset_header(name: str) -> ResetHeader:
    """A reset header holding an ISO 8601 time (Mastodon ``X-RateLimit-Reset``)."""

    def read(headers: httpx.Headers, now: float) -> float | None:
        try:
            return max(0.0, datetime.fromisoformat(headers[name]).timestamp() - now)
        except (KeyError, ValueError):
            return None

    return read


def raise_for_retryable(
    response: httpx.Response,
    network: str,
    *,
    reset_header: ResetHeader | None = None,
    clock: Clock = time.time,
) -> None:
    """429 and 5xx become ``TransientProviderError`` with the network's ``retry_after``."""
    status = response.status_code
    if status != 429 and status < 500:
        return
    now = clock()
    retry_after = retry_after_header(response.headers, now)
    if retry_after is None and reset_header is not None:
        retry_after = reset_header(response.headers, now)
    if status == 429:
        raise TransientProviderError(
            "rate_limited",
            f"{network} rate limit reached",
            provider=network,
            retry_after=retry_after,
        )
    raise TransientProviderError(
        f"http_{status}",
        f"{network} answered {status}: {short_text(response)}",
        provider=network,
        retry_after=retry_after,
        outage=True,
    )


def short_text(response: httpx.Response) -> str:
    return response.text[:MAX_ERROR_MESSAGE].strip() or response.reason_phrase


def refused(
    network: str, response: httpx.Response, message: str, code: str = ""
) -> PermanentProviderError:
    """A permanent refusal carrying the network's own message (``rejected_<status>`` by default)."""
    return PermanentProviderError(
        code or f"rejected_{response.status_code}",
        (message or short_text(response))[:MAX_ERROR_MESSAGE],
        provider=network,
    )


def expired(network: str, account_id: str, detail: str) -> PermanentProviderError:
    return PermanentProviderError(
        "expired_credentials",
        f"{network} refused the credentials of account {account_id!r}: {detail}"[
            :MAX_ERROR_MESSAGE
        ],
        provider=network,
    )
