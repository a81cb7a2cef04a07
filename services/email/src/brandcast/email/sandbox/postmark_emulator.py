"""A loopback stand-in for Postmark's ``POST /email`` that answers like Postmark.

It checks ``X-Postmark-Server-Token`` (401, ErrorCode 10), requires From/To
(422, ErrorCode 300), records accepted messages in :attr:`PostmarkEmulator.sent`
and returns ``{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}``.
Scripted answers per recipient (:meth:`PostmarkEmulator.fail`, or a local part
``+429``/``+500``/``+406``/``+timeout``) produce 429 with ``Retry-After``, 5xx,
Postmark's 422 with an ErrorCode, or an answer slower than the client's timeout.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_SCRIPTED_LOCAL_PART = re.compile(r"\+(429|500|502|503|406|422|timeout)@", re.ASCII)
_ADDRESS_IN = re.compile(r"<([^<>]+)>\s*$")


@dataclass
class Scripted:
    #: HTTP status, or 0 for "answer after ``delay`` seconds" (a timeout for the client).
    status: int
    remaining: int | None = None
    error_code: int = 0


@dataclass(frozen=True)
class Received:
    payload: dict[str, Any]
    token: str
    at: float
    message_id: str = ""


DEFAULT_STREAMS = {"outbound": "Transactional", "broadcast": "Broadcasts"}


class PostmarkEmulator:
    def __init__(
        self,
        token: str = "sandbox-token",  # noqa: S107 - the sandbox's well-known token
        *,
        retry_after: int = 1,
        delay: float = 3.0,
    ) -> None:
        self.token = token
        #: The server's message streams (id -> type), as a new Postmark server has them.
        self.streams = dict(DEFAULT_STREAMS)
        self.retry_after = retry_after
        self.delay = delay
        #: Accepted messages, in arrival order.
        self.sent: list[Received] = []
        #: Every request (accepted or not), in arrival order.
        self.requests: list[Received] = []
        self._scripts: dict[str, Scripted] = {}
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/email", self._email, methods=["POST"]),
                Route("/messages/outbound", self._search, methods=["GET"]),
            ]
        )

    def fail(
        self, address: str, status: int, *, times: int | None = None, error_code: int = 0
    ) -> None:
        """Answer ``status`` for ``address`` (``times`` times, or always); 0 = time out."""
        with self._lock:
            self._scripts[address.lower()] = Scripted(status, times, error_code)

    def _scripted(self, address: str) -> Scripted | None:
        with self._lock:
            script = self._scripts.get(address.lower())
            if script is not None and script.remaining != 0:
                if script.remaining is not None:
                    script.remaining -= 1
                return script
        match = _SCRIPTED_LOCAL_PART.search(address)
        if match is None:
            return None
        word = match.group(1)
        if word == "timeout":
            return Scripted(0)
        if word in ("406", "422"):
            return Scripted(422, error_code=int(word) if word == "406" else 300)
        return Scripted(int(word))

    async def _search(self, request: Request) -> Response:
        """Outbound message search, newest first, by ``recipient`` and ``metadata_*``."""
        if request.headers.get("X-Postmark-Server-Token", "") != self.token:
            return _error(401, 10, "Request does not contain a valid Server token.")
        query = request.query_params
        try:
            count, offset = int(query.get("count", "")), int(query.get("offset", "0"))
        except ValueError:
            return _error(422, 1, "'count' and 'offset' are required integers.")
        if not 1 <= count <= 500:
            return _error(422, 1, "'count' must be between 1 and 500.")
        wanted = _metadata_filters(query)
        recipient = query.get("recipient", "").lower()
        with self._lock:
            found = [
                received for received in reversed(self.sent)
                if all((received.payload.get("Metadata") or {}).get(k) == v
                       for k, v in wanted.items())
                and (not recipient or recipient in str(received.payload.get("To", "")).lower())
            ]  # fmt: skip
        page = found[offset : offset + count]
        messages = [
            {"MessageID": r.message_id, "To": [{"Email": _bare_address(str(r.payload["To"]))}],
             "Subject": r.payload.get("Subject", ""), "Metadata": r.payload.get("Metadata", {}),
             "MessageStream": r.payload.get("MessageStream", "outbound"), "Status": "Sent"}
            for r in page
        ]  # fmt: skip
        return JSONResponse({"TotalCount": len(found), "Messages": messages})

    async def _email(self, request: Request) -> Response:
        token = request.headers.get("X-Postmark-Server-Token", "")
        try:
            payload = await request.json()
        except ValueError:
            return _error(400, 402, "Received invalid JSON input.")
        if not isinstance(payload, dict):
            return _error(422, 403, "Incompatible JSON input.")
        with self._lock:
            self.requests.append(Received(payload, token, time.time()))
        if token != self.token:
            return _error(401, 10, "Request does not contain a valid Server token.")
        to, sender = str(payload.get("To", "")), str(payload.get("From", ""))
        if not to or not sender:
            return _error(422, 300, "Invalid email request: 'From' and 'To' are required.")
        stream = str(payload.get("MessageStream") or "outbound")
        if stream not in self.streams:
            return _error(422, 1235, f"The message stream '{stream}' was not found.")
        address = _bare_address(to)
        script = self._scripted(address)
        if script is not None:
            if script.status == 0:
                await asyncio.sleep(self.delay)
            elif script.status == 429:
                response = _error(429, 429, "Rate limit exceeded.")
                response.headers["Retry-After"] = str(self.retry_after)
                return response
            elif script.status >= 500:
                return _error(script.status, 100, "Service unavailable (sandbox).")
            else:
                code = script.error_code or 300
                text = "You tried to send to recipient(s) that have been marked as inactive."
                return _error(script.status, code, text if code == 406 else "Invalid request.")
        message_id = str(uuid.uuid4())
        with self._lock:
            self.sent.append(Received(payload, token, time.time(), message_id))
        return JSONResponse(
            {
                "To": to,
                "SubmittedAt": datetime.now(UTC).isoformat(),
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        )


def _metadata_filters(query: Any) -> dict[str, str]:
    return {k.removeprefix("metadata_"): v for k, v in query.items() if k.startswith("metadata_")}


def _bare_address(value: str) -> str:
    match = _ADDRESS_IN.search(value)
    return (match.group(1) if match else value).strip()


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"ErrorCode": code, "Message": message}, status_code=status)
