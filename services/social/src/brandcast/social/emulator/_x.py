"""X API v2 ``POST /2/tweets`` and the OAuth 2.0 refresh-token grant."""

from __future__ import annotations

import base64
import hashlib
import html
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.text_counting import X_LIMIT, x_urls, x_weighted_length
from brandcast.social.emulator._common import bearer, hold_for_timeout, json_object, state_of


def _rate_headers(reset_in: int = 900, remaining: int = 99) -> dict[str, str]:
    return {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(time.time()) + reset_in),
    }


def _problem(title: str, detail: str, status: int, **headers: str) -> JSONResponse:
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return JSONResponse(body, status_code=status, headers=_rate_headers() | headers)


def _invalid(message: str) -> JSONResponse:
    body = {
        "errors": [{"message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    return JSONResponse(body, status_code=400, headers=_rate_headers())


async def create_tweet(request: Request) -> Response:
    state = state_of(request)
    token = bearer(request)
    account = state.account_of(token)
    if account is None:
        return _problem("Unauthorized", "Unauthorized", 401)
    fault = state.take_fault("x")
    if fault is not None:
        if fault.kind == "429":
            return _problem(
                "Too Many Requests", "Too Many Requests", 429, **_rate_headers(fault.retry_after, 0)
            )
        if fault.kind == "500":
            return _problem("Service Unavailable", "Service Unavailable", 503)
        if fault.kind == "timeout":
            return await hold_for_timeout(fault)
        if fault.kind == "expired_token":
            state.revoke(token)
            return _problem("Unauthorized", "Unauthorized", 401)
        return _problem(
            "Forbidden", "You are not permitted to create a Tweet with this content.", 403
        )
    body = await json_object(request)
    if body is None:
        return _invalid("The request body is not a JSON object")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _invalid("$.text: must not be empty")
    # X counts weighted length (twitter-text): a URL is 23, CJK and emoji 2, Latin 1.
    if x_weighted_length(text) > X_LIMIT:
        return _problem("Forbidden", "Your Tweet text is too long.", 403)
    with state.lock:
        duplicate = any(
            p["network"] == "x" and p["account"] == account and p["text"] == text
            for p in state.posts
        )
    if duplicate:
        return _problem(
            "Forbidden", "You are not allowed to create a Tweet with duplicate content.", 403
        )
    tweet_id = str(1_800_000_000_000_000_000 + state.next_id())
    state.record_post(
        {
            "network": "x",
            "account": account,
            "text": text,
            "created_at": _x_time(time.time()),
            "idempotency_key": "",
            "id": tweet_id,
            "url": f"https://x.com/{account}/status/{tweet_id}",
        }
    )
    data = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
    return JSONResponse({"data": data}, status_code=201, headers=_rate_headers())


def user_id(account: str) -> str:
    """A stable numeric user id for a sandbox account, as X's are numeric strings."""
    return str(int(hashlib.sha256(account.encode()).hexdigest()[:15], 16))


def _x_time(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


async def users_me(request: Request) -> Response:
    account = state_of(request).account_of(bearer(request))
    if account is None:
        return _problem("Unauthorized", "Unauthorized", 401)
    data = {"id": user_id(account), "name": account, "username": account}
    return JSONResponse({"data": data}, headers=_rate_headers())


def _as_returned(text: str) -> tuple[str, list[dict[str, Any]]]:
    """A tweet's text as X returns it: links replaced by t.co ones, & < > escaped."""
    parts: list[str] = []
    urls: list[dict[str, Any]] = []
    last = 0
    for found in x_urls(text):
        parts.append(html.escape(text[last : found.start], quote=False))
        short = "https://t.co/" + hashlib.sha256(found.url.encode()).hexdigest()[:10]
        start = len("".join(parts))
        parts.append(short)
        urls.append({"start": start, "end": start + len(short), "url": short,
                     "expanded_url": found.url, "display_url": found.url[:26]})  # fmt: skip
        last = found.end
    parts.append(html.escape(text[last:], quote=False))
    return "".join(parts), urls


async def user_tweets(request: Request) -> Response:
    """``GET /2/users/:id/tweets``: the user's tweets, newest first."""
    state = state_of(request)
    if state.account_of(bearer(request)) is None:
        return _problem("Unauthorized", "Unauthorized", 401)
    wanted = request.path_params["user_id"]
    try:
        limit = min(max(int(request.query_params.get("max_results", "10")), 5), 100)
    except ValueError:
        return _invalid("The `max_results` query parameter value is not valid")
    start_time = request.query_params.get("start_time", "")
    with state.lock:
        posts = [
            p for p in state.posts
            if p["network"] == "x" and user_id(p["account"]) == wanted
            and (not start_time or p["created_at"] >= start_time)
        ]  # fmt: skip
    data = []
    for post in reversed(posts[-limit:]):
        text, urls = _as_returned(post["text"])
        tweet: dict[str, Any] = {"id": post["id"], "text": text,
                                 "edit_history_tweet_ids": [post["id"]]}  # fmt: skip
        fields = request.query_params.get("tweet.fields", "").split(",")
        if "created_at" in fields:
            tweet["created_at"] = post["created_at"]
        if "entities" in fields and urls:
            tweet["entities"] = {"urls": urls}
        data.append(tweet)
    return JSONResponse({"data": data, "meta": {"result_count": len(data)}},
                        headers=_rate_headers())  # fmt: skip


async def token(request: Request) -> Response:
    state = state_of(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    client_id = form.get("client_id", "")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        client_id = base64.b64decode(credentials).decode().partition(":")[0]
    if not client_id:
        return _oauth_error("invalid_request", "Missing required parameter [client_id].")
    if form.get("grant_type") != "refresh_token":
        return _oauth_error("invalid_request", "Value passed for the grant type was invalid.")
    refresh = form.get("refresh_token", "")
    account = state.account_of(refresh)
    if account is None:
        return _oauth_error("invalid_request", "Value passed for the token was invalid.")
    state.revoke(refresh)  # refresh tokens are single use: X rotates them
    answer: dict[str, Any] = {
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": state.issue(account, "x-access"),
        "scope": "tweet.read tweet.write users.read offline.access",
        "refresh_token": state.issue(account, "x-refresh"),
    }
    return JSONResponse(answer)


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


routes = [
    Route("/2/tweets", create_tweet, methods=["POST"]),
    Route("/2/users/me", users_me, methods=["GET"]),
    Route("/2/users/{user_id}/tweets", user_tweets, methods=["GET"]),
    Route("/2/oauth2/token", token, methods=["POST"]),
]
