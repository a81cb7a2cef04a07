"""What the HTTP providers share: one POST with errors mapped to the shared tree."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from brandcast.shared.errors import PermanentProviderError, TransientProviderError


def user_agent() -> str:
    """Carries the process id so a sandbox can tell worker processes apart."""
    return f"brandcast-sms/0.1 (pid {os.getpid()})"


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


def post(client: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST, translating transport failures: every one of them is an outage."""
    return _request(client, provider, "POST", url, **kwargs)


def get(client: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """GET, translating transport failures like :func:`post`."""
    return _request(client, provider, "GET", url, **kwargs)


def _request(
    client: httpx.Client, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        return client.request(
            method,
            url,
            headers={"User-Agent": user_agent(), **kwargs.pop("headers", {})},
            **kwargs,
        )
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            "timeout", f"no answer in time: {exc!r}", provider=provider, outage=True
        ) from exc
    except httpx.TransportError as exc:
        raise TransientProviderError(
            "connection_error", f"cannot reach provider: {exc!r}", provider=provider, outage=True
        ) from exc


def raise_for_error(response: httpx.Response, provider: str, code: str, message: str) -> None:
    """Raise the shared error for a non-2xx answer (``code``/``message`` from its body)."""
    status = response.status_code
    if status < 400:
        return
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429:
        raise TransientProviderError(
            code or "429", message or "throttled", provider=provider, retry_after=retry_after
        )
    if status >= 500:
        raise TransientProviderError(
            code or str(status),
            message or f"provider error {status}",
            provider=provider,
            retry_after=retry_after,
            outage=True,
        )
    raise PermanentProviderError(
        code or str(status), message or f"HTTP {status}", provider=provider
    )


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer, or ``{}`` when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
