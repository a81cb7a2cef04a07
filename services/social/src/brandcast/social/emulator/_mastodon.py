"""Mastodon's ``/api/v2/instance`` and ``/api/v1/statuses``, as far as Brandcast uses them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.text_counting import grapheme_length
from brandcast.social.emulator._common import bearer, hold_for_timeout, json_object, state_of

_URL = re.compile(r"https?://\S+")
VISIBILITIES = ("public", "unlisted", "private", "direct")


def _rate_headers(retry_after: int = 0, remaining: int = 299) -> dict[str, str]:
    reset = datetime.now(UTC) + timedelta(seconds=retry_after or 300)
    return {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": reset.isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def _error(message: str, status: int, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_rate_headers() | headers)


async def instance(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {
            "domain": request.url.netloc,
            "title": "Brandcast sandbox",
            "version": "4.3.0",
            "configuration": {
                "statuses": {
                    "max_characters": state.mastodon_max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": state.mastodon_characters_per_url,
                }
            },
        }
    )


async def create_status(request: Request) -> Response:
    state = state_of(request)
    token = bearer(request)
    account = state.account_of(token)
    if account is None:
        return _error("The access token is invalid", 401)
    fault = state.take_fault("mastodon")
    if fault is not None:
        if fault.kind == "429":
            return _error("Too many requests", 429, **_rate_headers(fault.retry_after, 0))
        if fault.kind == "500":
            return _error("Internal server error", 500)
        if fault.kind == "timeout":
            return await hold_for_timeout(fault)
        if fault.kind == "expired_token":
            state.revoke(token)
            return _error("The access token is invalid", 401)
        return _error("Validation failed: Text contains a forbidden word", 422)
    key = request.headers.get("idempotency-key", "")
    if key:
        with state.lock:
            replay = state.mastodon_idempotency.get((token, key))
        if replay is not None:
            return JSONResponse(replay, headers=_rate_headers())
    form: dict[str, Any] | None
    if request.headers.get("content-type", "").startswith("application/json"):
        form = await json_object(request)
    else:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if form is None:
        return _error("Validation failed: the body is not a JSON object", 422)
    text = str(form.get("status", ""))
    visibility = str(form.get("visibility") or "public")
    if not text.strip():
        return _error("Validation failed: Text can't be blank", 422)
    countable = _URL.sub("x" * state.mastodon_characters_per_url, text)
    if grapheme_length(countable) > state.mastodon_max_characters:
        limit = state.mastodon_max_characters
        return _error(f"Validation failed: Text character limit of {limit} exceeded", 422)
    if visibility not in VISIBILITIES:
        return _error("Validation failed: Visibility is not included in the list", 422)
    status_id = str(int(time.time() * 1000) << 16 | state.next_id() & 0xFFFF)
    base = str(request.base_url).rstrip("/")
    status = {
        "id": status_id,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "uri": f"{base}/users/{account}/statuses/{status_id}",
        "url": f"{base}/@{account}/{status_id}",
        "content": f"<p>{text}</p>",
        "visibility": visibility,
        "language": form.get("language"),
        "account": {"acct": account, "username": account},
    }
    if key:
        with state.lock:
            state.mastodon_idempotency[(token, key)] = status
    state.record_post(
        {
            "network": "mastodon",
            "account": account,
            "text": text,
            "visibility": visibility,
            "language": form.get("language"),
            "idempotency_key": key,
            "id": status_id,
            "url": status["url"],
        }
    )
    return JSONResponse(status, headers=_rate_headers())


routes = [
    Route("/api/v2/instance", instance, methods=["GET"]),
    Route("/api/v1/statuses", create_status, methods=["POST"]),
]
