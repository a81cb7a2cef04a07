"""Login enforcement and CSRF protection, as ASGI middleware inside the session one.

* Every path except the public ones needs a logged-in session whose id the
  server still holds (``SessionRegistry``; logging out revokes it): pages
  redirect to ``/login``, ``/api/...`` (fetch and server-sent events) answer 401.
* Every unsafe method (POST, PUT, PATCH, DELETE) must carry the session's CSRF
  token, in the ``X-CSRF-Token`` header (fetch) or the ``csrf_token`` form field,
  and must not come from another site (``Origin`` / ``Sec-Fetch-Site``); else 403.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brandcast.admin.sessions import SessionRegistry

CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
USER_SESSION_KEY = "user"
SESSION_ID_KEY = "sid"
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
PUBLIC_PREFIXES = ("/static/",)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def start_session(session: MutableMapping[str, Any], user: str, session_id: str) -> None:
    """Log ``user`` in with a fresh session, so a token planted before login is useless;
    ``session_id`` is the server-side session (``SessionRegistry.open``)."""
    session.clear()
    session[USER_SESSION_KEY] = user
    session[SESSION_ID_KEY] = session_id
    csrf_token(session)


def current_user(session: MutableMapping[str, Any]) -> str | None:
    user = session.get(USER_SESSION_KEY)
    return user if isinstance(user, str) and user else None


class LoginRequiredMiddleware:
    def __init__(self, app: ASGIApp, *, sessions: SessionRegistry) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        user = current_user(session)
        if user is not None and self.sessions.user_of(session.get(SESSION_ID_KEY)) != user:
            # A revoked, expired or unknown session (a cookie copied before logout):
            # treated as logged out from here on, its contents dropped.
            session.clear()
        path: str = scope["path"]
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if public or current_user(scope["session"]):
            await self.app(scope, receive, send)
            return
        response: Response
        if path.startswith("/api/"):
            response = JSONResponse({"error": "log in first"}, status_code=401)
        else:
            target = path + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        await response(scope, receive, send)


def _same_origin(headers: Headers) -> bool:
    if headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True  # old browsers and non-browser clients; the token still has to match
    return urlsplit(origin).netloc == headers.get("host", "")


class CSRFMiddleware:
    """Reject unsafe requests without the session's token or from another site (403)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        expected = scope["session"].get(CSRF_SESSION_KEY)
        if not _same_origin(headers) or not isinstance(expected, str) or not expected:
            await self._forbid(scope, receive, send)
            return
        supplied = headers.get(CSRF_HEADER)
        replay = receive
        if supplied is None:
            # A plain form post: read the body once, find the field, replay it to the app.
            body = await self._read_body(receive)
            if body is None:
                await PlainTextResponse("Request body too large", status_code=413)(
                    scope, receive, send
                )
                return
            replay = _replaying(body, then=receive)
            async with Request(scope, _replaying(body)).form() as form:
                field = form.get(CSRF_FORM_FIELD)
                supplied = field if isinstance(field, str) else None
        if supplied is None or not hmac.compare_digest(supplied.encode(), expected.encode()):
            await self._forbid(scope, receive, send)
            return
        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _forbid(scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            "Forbidden: this form has expired or did not come from this site. "
            "Reload the page and try again."
        )
        response: Response
        if scope["path"].startswith("/api/"):
            response = JSONResponse({"error": message}, status_code=403)
        else:
            response = PlainTextResponse(message, status_code=403)
        await response(scope, receive, send)


def _replaying(body: bytes, then: Receive | None = None) -> Receive:
    """A receive channel that yields ``body`` once, then waits on ``then`` (the client)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then() if then else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
