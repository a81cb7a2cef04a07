"""What the HTTP providers share: one POST with errors mapped to the shared tree."""

from __future__ import annotations

import os
from typing import Any

import httpx

from brandcast.shared.errors import PermanentProviderError, TransientProviderError
from brandcast.shared.http_answers import json_object as json_body
from brandcast.shared.http_answers import retry_after_seconds, transport_failures_are_outages


def user_agent() -> str:
    """Carries the process id so a sandbox can tell worker processes apart."""
    return f"brandcast-sms/0.1 (pid {os.getpid()})"


def post(client: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """POST, translating transport failures: every one of them is an outage."""
    return _request(client, provider, "POST", url, **kwargs)


def get(client: httpx.Client, provider: str, url: str, **kwargs: Any) -> httpx.Response:
    """GET, translating transport failures like :func:`post`."""
    return _request(client, provider, "GET", url, **kwargs)


def _request(
    client: httpx.Client, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    with transport_failures_are_outages(provider, unreachable="connection_error"):
        return client.request(
            method,
            url,
            headers={"User-Agent": user_agent(), **kwargs.pop("headers", {})},
            **kwargs,
        )


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


__all__ = ["get", "json_body", "post", "raise_for_error", "retry_after_seconds", "user_agent"]
