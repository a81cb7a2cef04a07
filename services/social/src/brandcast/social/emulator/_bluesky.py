"""A PDS's ``com.atproto.server.*Session`` and ``com.atproto.repo.createRecord``.

Records are validated the way Brandcast needs to be sure of: text limits and
facets whose byte ranges lie inside the UTF-8 text and on character boundaries.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.text_counting import grapheme_length
from brandcast.social.emulator._common import bearer, hold_for_timeout, json_object, state_of
from brandcast.social.emulator._state import BlueskySession, EmulatorState

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
FEATURES = {
    "app.bsky.richtext.facet#link": "uri",
    "app.bsky.richtext.facet#tag": "tag",
    "app.bsky.richtext.facet#mention": "did",
}
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def _error(error: str, message: str, status: int = 400, **headers: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _tid(state: EmulatorState) -> str:
    value = (int(time.time() * 1_000_000) << 10) | (state.next_id() & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _session_body(session: BlueskySession) -> dict[str, Any]:
    return {
        "did": session.did,
        "handle": session.handle,
        "accessJwt": session.access_jwt,
        "refreshJwt": session.refresh_jwt,
        "active": True,
    }


def _is_boundary(text: bytes, index: int) -> bool:
    return index == len(text) or (text[index] & 0xC0) != 0x80


def facet_problem(text: str, facets: Any) -> str | None:
    """Why ``facets`` are invalid for ``text``, or None."""
    if not isinstance(facets, list):
        return "facets must be an array"
    encoded = text.encode("utf-8")
    for number, facet in enumerate(facets):
        index = facet.get("index") if isinstance(facet, dict) else None
        if not isinstance(index, dict):
            return f"record/facets/{number}/index is required"
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
            return f"record/facets/{number}/index must have 0 <= byteStart < byteEnd"
        if end > len(encoded):
            size = len(encoded)
            return f"record/facets/{number}/index byteEnd {end} is past the text ({size} bytes)"
        if not (_is_boundary(encoded, start) and _is_boundary(encoded, end)):
            return f"record/facets/{number}/index does not fall on UTF-8 character boundaries"
        features = facet.get("features")
        if not isinstance(features, list) or not features:
            return f"record/facets/{number}/features must be a non-empty array"
        for feature in features:
            kind = feature.get("$type") if isinstance(feature, dict) else None
            if kind not in FEATURES or not isinstance(feature.get(FEATURES[kind]), str):
                return f"record/facets/{number}/features has an invalid feature"
    return None


async def create_session(request: Request) -> Response:
    state = state_of(request)
    body = await json_object(request) or {}
    identifier, password = body.get("identifier"), body.get("password")
    if not isinstance(identifier, str) or not identifier:
        return _error("InvalidRequest", 'Input must have the property "identifier"')
    if not isinstance(password, str) or not password or password.startswith("revoked"):
        return _error("AuthenticationRequired", "Invalid identifier or password", 401)
    return JSONResponse(_session_body(state.new_bluesky_session(identifier)))


async def refresh_session(request: Request) -> Response:
    state = state_of(request)
    token = bearer(request)
    with state.lock:
        old = state.bluesky_by_refresh.pop(token, None)
    if old is None:
        return _error("ExpiredToken", "Token has been revoked", 400)
    return JSONResponse(_session_body(state.new_bluesky_session(old.handle)))


async def create_record(request: Request) -> Response:
    state = state_of(request)
    token = bearer(request)
    with state.lock:
        session = state.bluesky_by_access.get(token)
    if session is None:
        return _error("InvalidToken", "Token could not be verified", 401)
    if session.access_expires_at <= time.time():
        return _error("ExpiredToken", "Token has expired")
    fault = state.take_fault("bluesky")
    late = fault if fault is not None and fault.kind == "late_answer" else None
    if fault is not None and late is None:
        if fault.kind == "429":
            reset = str(int(time.time()) + fault.retry_after)
            return _error(
                "RateLimitExceeded",
                "Rate Limit Exceeded",
                429,
                **{
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": reset,
                    "ratelimit-policy": "5000;w=3600",
                },
            )
        if fault.kind == "500":
            return _error("InternalServerError", "Internal Server Error", 500)
        if fault.kind == "timeout":
            return await hold_for_timeout(fault)
        if fault.kind == "expired_token":
            session.access_expires_at = 0.0
            return _error("ExpiredToken", "Token has expired")
        return _error("InvalidRequest", "Invalid app.bsky.feed.post record: content refused")
    body = await json_object(request)
    if body is None:
        return _error("InvalidRequest", "Input must be a JSON object")
    if body.get("repo") not in (session.did, session.handle):
        return _error("InvalidRequest", "Input/repo must be the authenticated account", 403)
    if body.get("collection") != "app.bsky.feed.post":
        return _error("InvalidRequest", "Input/collection must be app.bsky.feed.post")
    problem = _record_problem(body.get("record"))
    if problem:
        return _error("InvalidRequest", f"Invalid app.bsky.feed.post record: {problem}")
    record: dict[str, Any] = body["record"]
    rkey = _tid(state)
    uri = f"at://{session.did}/app.bsky.feed.post/{rkey}"
    state.record_post(
        {
            "network": "bluesky",
            "account": session.handle,
            "text": record["text"],
            "facets": record.get("facets", []),
            "embed": record.get("embed"),
            "language": (record.get("langs") or [None])[0],
            "idempotency_key": "",
            "record": record,
            "id": uri,
            "url": f"https://bsky.app/profile/{session.handle}/post/{rkey}",
        }
    )
    if late is not None:
        await asyncio.sleep(late.delay)  # posted; the client gives up before the answer
    return JSONResponse({"uri": uri, "cid": f"bafyrei{rkey}", "validationStatus": "valid"})


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "record must be an object"
    text = record.get("text")
    if not isinstance(text, str):
        return 'record must have the property "text"'
    if not isinstance(record.get("createdAt"), str):
        return 'record must have the property "createdAt"'
    if len(text.encode("utf-8")) > MAX_BYTES or grapheme_length(text) > MAX_GRAPHEMES:
        return f"record/text must not be longer than {MAX_GRAPHEMES} graphemes"
    if "facets" in record:
        problem = facet_problem(text, record["facets"])
        if problem:
            return problem
    embed = record.get("embed")
    if embed is not None:
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.external":
            return "record/embed must be an app.bsky.embed.external"
        external = embed.get("external")
        if not isinstance(external, dict):
            return "record/embed must be an app.bsky.embed.external"
        if not isinstance(external.get("uri"), str) or not isinstance(external.get("title"), str):
            return "record/embed/external must have uri and title"
    return None


async def list_records(request: Request) -> Response:
    """``com.atproto.repo.listRecords``: a repo's posts, newest first."""
    state = state_of(request)
    repo = request.query_params.get("repo", "")
    if request.query_params.get("collection") != "app.bsky.feed.post":
        return _error("InvalidRequest", "Input/collection must be app.bsky.feed.post")
    try:
        limit = min(max(int(request.query_params.get("limit", "50")), 1), 100)
    except ValueError:
        return _error("InvalidRequest", "Input/limit must be an integer")
    with state.lock:
        posts = [
            p for p in state.posts
            if p["network"] == "bluesky" and p["id"].startswith(f"at://{repo}/")
        ]  # fmt: skip
    records = [
        {"uri": p["id"], "cid": f"bafyrei{p['id'].rsplit('/', 1)[-1]}", "value": p["record"]}
        for p in reversed(posts)
    ][:limit]
    return JSONResponse({"records": records})


async def get_profile(request: Request) -> Response:
    """``app.bsky.actor.getProfile`` of a session's own account (what clients fetch at login)."""
    state = state_of(request)
    with state.lock:
        session = state.bluesky_by_access.get(bearer(request))
    if session is None:
        return _error("AuthenticationRequired", "Authentication Required", 401)
    actor = request.query_params.get("actor", "")
    if actor not in (session.did, session.handle):
        return _error("InvalidRequest", "Profile not found")
    return JSONResponse(
        {"did": session.did, "handle": session.handle, "displayName": session.handle}
    )


routes = [
    Route("/xrpc/com.atproto.server.createSession", create_session, methods=["POST"]),
    Route("/xrpc/com.atproto.server.refreshSession", refresh_session, methods=["POST"]),
    Route("/xrpc/com.atproto.repo.createRecord", create_record, methods=["POST"]),
    Route("/xrpc/app.bsky.actor.getProfile", get_profile, methods=["GET"]),
    Route("/xrpc/com.atproto.repo.listRecords", list_records, methods=["GET"]),
]
