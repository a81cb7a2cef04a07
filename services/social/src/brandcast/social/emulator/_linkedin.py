"""LinkedIn's Posts API (``POST /rest/posts``), versioned, Rest.li 2.0."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.social.emulator._common import bearer, hold_for_timeout, json_object, state_of
from brandcast.social.linkedin_versions import is_served, today

_AUTHOR = re.compile(r"^urn:li:(organization|person):[\w-]+$")
_VERSION = re.compile(r"^\d{6}(\.\d{2})?$")
VISIBILITIES = ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER")


def _error(message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"message": message, "status": status, **extra}, status_code=status)


def _body_problem(body: dict[str, Any]) -> str | None:
    author = body.get("author")
    if not isinstance(author, str) or not _AUTHOR.match(author):
        return "ERROR :: /author :: is not a valid organization or person URN"
    if not isinstance(body.get("commentary"), str):
        return "ERROR :: /commentary :: field is required but not found and has no default value"
    if body.get("visibility") not in VISIBILITIES:
        return "ERROR :: /visibility :: is not a valid MemberNetworkVisibility"
    distribution = body.get("distribution")
    if not isinstance(distribution, dict) or distribution.get("feedDistribution") not in (
        "MAIN_FEED",
        "NONE",
    ):
        return "ERROR :: /distribution/feedDistribution :: field is required"
    if body.get("lifecycleState") not in ("PUBLISHED", "DRAFT"):
        return "ERROR :: /lifecycleState :: is not a valid lifecycle state"
    return None


async def create_post(request: Request) -> Response:
    state = state_of(request)
    token = bearer(request)
    account = state.account_of(token)
    if account is None:
        return _error("Invalid access token", 401, serviceErrorCode=65600)
    version = request.headers.get("linkedin-version", "")
    if not _VERSION.match(version):
        return _error(
            "A version must be present. "
            "Please specify a version by adding the LinkedIn-Version header.",
            400,
        )
    if not is_served(version, today()):
        # LinkedIn serves a version for one year and refuses retired and future ones.
        return _error(
            f"Requested version {version.replace('.', '')[:6]}01 is not active",
            426,
            code="NONEXISTENT_VERSION",
        )
    if request.headers.get("x-restli-protocol-version") != "2.0.0":
        return _error("Rest.li protocol version 2.0.0 is required", 400)
    fault = state.take_fault("linkedin")
    late = fault if fault is not None and fault.kind == "late_answer" else None
    if fault is not None and late is None:
        if fault.kind == "429":
            return _error(
                "Resource level throttle limit for calls to this resource is reached.", 429
            )
        if fault.kind == "500":
            return _error("Internal Server Error", 500)
        if fault.kind == "timeout":
            return await hold_for_timeout(fault)
        if fault.kind == "expired_token":
            state.revoke(token)
            return _error("The token used in the request has expired", 401, serviceErrorCode=65601)
        return _error("ERROR :: /commentary :: Content is a duplicate of an existing post", 422)
    body = await json_object(request)
    if body is None:
        return _error("The request body is not a JSON object", 400)
    problem = _body_problem(body)
    if problem:
        return _error(problem, 422)
    urn = f"urn:li:share:{7_100_000_000_000_000_000 + state.next_id()}"
    state.record_post(
        {
            "network": "linkedin",
            "account": body["author"],
            "text": body["commentary"],
            "content": body.get("content"),
            "idempotency_key": "",
            "created_at_ms": int(time.time() * 1000),
            "id": urn,
            "url": f"https://www.linkedin.com/feed/update/{urn}/",
        }
    )
    if late is not None:
        await asyncio.sleep(late.delay)  # posted; the client gives up before the answer
    return Response(status_code=201, headers={"x-restli-id": urn})


async def find_posts(request: Request) -> Response:
    """``GET /rest/posts?q=author&author=<urn>``: the author's posts, newest first."""
    state = state_of(request)
    if state.account_of(bearer(request)) is None:
        return _error("Invalid access token", 401, serviceErrorCode=65600)
    version = request.headers.get("linkedin-version", "")
    if not is_served(version, today()):
        return _error(f"Requested version {version[:6]}01 is not active", 426,
                      code="NONEXISTENT_VERSION")  # fmt: skip
    if request.query_params.get("q") != "author":
        return _error("Only the author finder is emulated", 400)
    author = request.query_params.get("author", "")
    try:
        count = min(max(int(request.query_params.get("count", "10")), 1), 100)
    except ValueError:
        return _error("count must be an integer", 400)
    with state.lock:
        posts = [p for p in state.posts if p["network"] == "linkedin" and p["account"] == author]
    elements = [
        {"id": p["id"], "author": author, "commentary": p["text"], "createdAt": p["created_at_ms"],
         "lifecycleState": "PUBLISHED"}
        for p in reversed(posts)
    ][:count]  # fmt: skip
    return JSONResponse({"elements": elements, "paging": {"start": 0, "count": count}})


async def access_token(request: Request) -> Response:
    """``POST /oauth/v2/accessToken`` with ``grant_type=refresh_token``.

    LinkedIn does not rotate refresh tokens: the same one comes back (and keeps
    working) with a new 60-day access token.
    """
    state = state_of(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if not form.get("client_id") or not form.get("client_secret"):
        return _oauth_error("invalid_request", 'A required parameter "client_id" is missing')
    if form.get("grant_type") != "refresh_token":
        return _oauth_error("unsupported_grant_type", "Only refresh_token is emulated")
    refresh = form.get("refresh_token", "")
    account = state.account_of(refresh)
    if account is None or not refresh:
        return _oauth_error("invalid_request", "The provided refresh token is invalid")
    return JSONResponse(
        {
            "access_token": state.issue(account, "li-access"),
            "expires_in": 5_184_000,
            "refresh_token": refresh,
            "refresh_token_expires_in": 31_536_000,
            "scope": "w_organization_social",
        }
    )


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


routes = [
    Route("/rest/posts", create_post, methods=["POST"]),
    Route("/rest/posts", find_posts, methods=["GET"]),
    Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
]
