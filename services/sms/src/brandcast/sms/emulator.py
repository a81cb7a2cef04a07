"""A loopback sandbox that speaks the Twilio-style and Vonage-style APIs.

It records every message (in memory and, with a directory, as JSON lines),
counts messages sent twice for one delivery, calls the StatusCallback URL
back with signed ``sent`` then ``delivered`` reports, injects faults for chosen
numbers, and simulates inbound replies (STOP, HELP, ...) to the webhooks.

Control endpoints, for people and tests:

- ``GET /_emulator/messages``: what was "sent", as a JSON list;
- ``GET /_emulator/requests``: every send request as it arrived (number,
  delivery ref, time), including faulted and repeated ones;
- ``GET /_emulator/stats``: ``{"messages": n, "duplicates": d, "lookups": l}``;
- ``POST /_emulator/faults``: ``{"number": "+1...", "kind": "429|500|timeout|400|undelivered",
  "count": n, "provider": "twilio|vonage" (optional), "retry_after": s, "code": "..."}``;
- ``POST /_emulator/inbound``: ``{"from": "+1...", "body": "STOP"}`` posts a signed
  inbound request to the webhooks and returns their answer;
- ``POST /_emulator/reset``: forget messages, faults and callbacks.

Like the real providers it never de-duplicates: neither Twilio's Messages API
nor Vonage's has an idempotency key, so a repeated request is a second SMS. To
*measure* duplicates it identifies the delivery a message belongs to (its
``delivery_ref``): Twilio's per-delivery ``StatusCallback`` URL, Vonage's
``client_ref``. Twilio's ``GET .../Messages.json`` (``To``, ``From``,
``PageSize``; newest first) serves the lookups a retry makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.basic_auth import basic_credentials
from brandcast.shared.http_thread import serve_in_thread
from brandcast.sms.signature import SIGNATURE_HEADER, twilio_signature, with_default_port

FAULT_KINDS: Final = ("429", "500", "timeout", "400", "undelivered")
_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")
_VONAGE_ERRORS: Final = "https://developer.vonage.com/api-errors/messages-olympus"
#: Callbacks posted at once. More would queue inside httpx's connection pool, whose
#: scheduling walks every waiting request on every step: with thousands of callbacks
#: waiting on slow webhooks that cost the emulator most of a core and slowed its sends.
CALLBACK_CONCURRENCY: Final = 16


@dataclass(frozen=True)
class EmulatorConfig:
    account_sid: str = "ACsandbox"
    auth_token: str = "sandbox-token"  # noqa: S105 - the sandbox's well-known credential
    vonage_api_key: str = "sandbox-key"
    vonage_api_secret: str = "sandbox-secret"  # noqa: S105
    #: Signs Vonage's status and inbound webhooks (a JWT per request, as Vonage does).
    vonage_signature_secret: str = "sandbox-vonage-signature-secret-0123456789"  # noqa: S105
    #: Sign Twilio callbacks over the URL with its default port (``https://host:443/...``),
    #: as Twilio sometimes does; the request still goes to the URL as configured.
    twilio_sign_with_port: bool = False
    #: Seconds before each status callback (sent, then delivered).
    callback_delay: float = 0.2
    #: Where simulated inbound replies are posted (the webhooks' /inbound).
    inbound_url: str = "http://127.0.0.1:8031/inbound"
    #: Where simulated Vonage inbound messages are posted.
    vonage_inbound_url: str = "http://127.0.0.1:8031/inbound/vonage"
    #: Our number, the ``To`` of simulated inbound replies.
    inbound_to: str = "+15005550006"
    #: How long a ``timeout`` fault holds the answer back.
    timeout_delay: float = 3.0
    #: Folder for ``messages.jsonl``; None keeps messages in memory only.
    directory: Path | None = None


@dataclass
class Fault:
    kind: str
    remaining: int
    provider: str | None = None
    retry_after: float = 1.0
    code: str = ""


@dataclass
class EmulatorState:
    config: EmulatorConfig
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: Every send request as it arrived (faulted and repeated ones too).
    requests: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    #: Message lookups (Twilio ``GET Messages.json``) served.
    lookups: int = 0
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    #: Twilio's message resources, newest last, as its list API returns them.
    resources: list[dict[str, Any]] = field(default_factory=list)
    seen_refs: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_request(self, provider: str, to: str, ref: str) -> None:
        with self.lock:
            self.requests.append(
                {"provider": provider, "to": to, "delivery_ref": ref, "at": time.time()}
            )

    def take_fault(self, number: str, provider: str) -> Fault | None:
        with self.lock:
            for fault in self.faults.get(number, []):
                if fault.remaining > 0 and fault.provider in (None, provider):
                    fault.remaining -= 1
                    return fault
        return None

    def record(self, message: dict[str, Any]) -> None:
        """Keep an accepted message; a second one for the same delivery is a duplicate.

        A retry after a refusal (429, 5xx) is not one: nothing was sent the first time.
        """
        ref = (message["provider"], message["delivery_ref"])
        with self.lock:
            if message["delivery_ref"] and ref in self.seen_refs:
                self.duplicates += 1
            self.seen_refs.add(ref)
            self.messages.append(message)
        if self.config.directory is not None:
            self.config.directory.mkdir(parents=True, exist_ok=True)
            with (self.config.directory / "messages.jsonl").open("a", encoding="utf-8") as out:
                out.write(json.dumps(message) + "\n")

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.requests.clear()
            self.callbacks.clear()
            self.faults.clear()
            self.resources.clear()
            self.seen_refs.clear()
            self.duplicates = 0
            self.lookups = 0


def _basic_auth(request: Request) -> tuple[str, str] | None:
    return basic_credentials(request.headers.get("authorization", ""))


def _twilio_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    body = {"code": code, "message": message, "status": status, "more_info": ""}
    return JSONResponse(body, status_code=status, headers=headers)


def _vonage_problem(status: int, code: str, title: str, detail: str, **headers: str) -> Response:
    body = {
        "type": f"{_VONAGE_ERRORS}#{code}",
        "title": title,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


class Emulator:
    """The Starlette app and its background callbacks."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.state = EmulatorState(config)
        self._tasks: set[asyncio.Task[None]] = set()
        # One client for every callback: building an AsyncClient (its SSL context)
        # costs tens of milliseconds of CPU, which at two callbacks per message
        # throttled the emulator to a few messages per second.
        self._client: httpx.AsyncClient | None = None
        self._callback_slots: asyncio.Semaphore | None = None
        self.app = Starlette(
            lifespan=self._lifespan,
            routes=[
                Route(
                    "/2010-04-01/Accounts/{account_sid}/Messages.json",
                    self.twilio_messages,
                    methods=["POST"],
                ),
                Route(
                    "/2010-04-01/Accounts/{account_sid}/Messages.json",
                    self.twilio_list,
                    methods=["GET"],
                ),
                Route("/v1/messages", self.vonage_messages, methods=["POST"]),
                Route("/_emulator/messages", self.list_messages, methods=["GET"]),
                Route("/_emulator/requests", self.list_requests, methods=["GET"]),
                Route("/_emulator/stats", self.stats, methods=["GET"]),
                Route("/_emulator/callbacks", self.list_callbacks, methods=["GET"]),
                Route("/_emulator/faults", self.add_fault, methods=["POST"]),
                Route("/_emulator/inbound", self.inbound, methods=["POST"]),
                Route("/_emulator/reset", self.reset, methods=["POST"]),
            ],
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    def _callback_client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=CALLBACK_CONCURRENCY,
                max_keepalive_connections=CALLBACK_CONCURRENCY,
            )
            self._client = httpx.AsyncClient(timeout=10.0, limits=limits)
        return self._client

    def _callback_slot(self) -> asyncio.Semaphore:
        if self._callback_slots is None:
            self._callback_slots = asyncio.Semaphore(CALLBACK_CONCURRENCY)
        return self._callback_slots

    # -- Twilio-style API -------------------------------------------------------

    async def twilio_messages(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        if _basic_auth(request) != (self.config.account_sid, self.config.auth_token) or (
            account_sid != self.config.account_sid
        ):
            return _twilio_error(401, 20003, "Authentication Error - invalid username")
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        to, sender, text = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not text:
            return _twilio_error(400, 21602, "Message body is required.")
        callback = form.get("StatusCallback", "")
        self.state.note_request("twilio", to, callback)
        fault = self.state.take_fault(to, "twilio")
        if fault is not None and fault.kind == "429":
            return _twilio_error(
                429, 20429, "Too Many Requests", **{"Retry-After": f"{fault.retry_after:g}"}
            )
        if fault is not None and fault.kind == "500":
            return _twilio_error(500, 20500, "Internal Server Error")
        if fault is not None and fault.kind == "400":
            return _twilio_error(
                400, int(fault.code or 21610), "Attempt to send to unsubscribed recipient"
            )
        sid = "SM" + uuid.uuid4().hex
        answer = {
            "sid": sid,
            "account_sid": account_sid,
            "to": to,
            "from": sender,
            "body": text,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": formatdate(usegmt=True),
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }
        with self.state.lock:
            self.state.resources.append(answer)
        self._record(
            "twilio",
            sid=sid,
            to=to,
            sender=sender,
            text=text,
            ref=callback,
            callback=callback,
            request=request,
        )
        if callback:
            final = "undelivered" if fault is not None and fault.kind == "undelivered" else ""
            self._spawn(self._twilio_callbacks(callback, answer, final or "delivered"))
        if fault is not None and fault.kind == "timeout":
            # Accepted, but the answer comes too late: a client that simply retries
            # sends a second SMS (Twilio has no idempotency key).
            await asyncio.sleep(self.config.timeout_delay)
        return JSONResponse(answer, status_code=201)

    async def twilio_list(self, request: Request) -> Response:
        """``GET Messages.json``: the account's messages, newest first, filtered like Twilio."""
        account_sid = request.path_params["account_sid"]
        if _basic_auth(request) != (self.config.account_sid, self.config.auth_token) or (
            account_sid != self.config.account_sid
        ):
            return _twilio_error(401, 20003, "Authentication Error - invalid username")
        query = request.query_params
        try:
            page_size = int(query.get("PageSize", "50"))
        except ValueError:
            page_size = 0
        if not 1 <= page_size <= 1000:
            return _twilio_error(400, 20001, "PageSize must be between 1 and 1000")
        with self.state.lock:
            self.state.lookups += 1
            found = [
                message
                for message in reversed(self.state.resources)
                if query.get("To", message["to"]) == message["to"]
                and query.get("From", message["from"]) == message["from"]
            ][:page_size]
        uri = request.url.path
        return JSONResponse(
            {
                "messages": found,
                "page": 0,
                "page_size": page_size,
                "first_page_uri": f"{uri}?PageSize={page_size}&Page=0",
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": f"{uri}?PageSize={page_size}&Page=0",
                "start": 0,
                "end": max(len(found) - 1, 0),
            }
        )

    async def _twilio_callbacks(self, url: str, answer: dict[str, Any], final: str) -> None:
        for status in ("sent", final):
            await asyncio.sleep(self.config.callback_delay)
            params = {
                "MessageSid": answer["sid"],
                "SmsSid": answer["sid"],
                "AccountSid": answer["account_sid"],
                "From": answer["from"],
                "To": answer["to"],
                "MessageStatus": status,
                "SmsStatus": status,
                "ApiVersion": "2010-04-01",
            }
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            await self._post_signed(url, params, kind="status")

    async def _post_signed(
        self, url: str, params: dict[str, str], *, kind: str
    ) -> httpx.Response | None:
        signed_url = with_default_port(url) if self.config.twilio_sign_with_port else url
        signature = twilio_signature(signed_url, params.items(), self.config.auth_token)
        entry: dict[str, Any] = {"kind": kind, "url": url, "params": params}
        response: httpx.Response | None = None
        try:
            async with self._callback_slot():
                response = await self._callback_client().post(
                    url, data=params, headers={SIGNATURE_HEADER: signature}
                )
            entry["status_code"] = response.status_code
        except httpx.HTTPError as exc:
            entry["error"] = repr(exc)
        with self.state.lock:
            self.state.callbacks.append(entry)
        return response

    # -- Vonage-style API -------------------------------------------------------

    async def vonage_messages(self, request: Request) -> Response:
        if _basic_auth(request) != (self.config.vonage_api_key, self.config.vonage_api_secret):
            return _vonage_problem(
                401, "unauthorized", "Unauthorized", "You did not provide correct credentials."
            )
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _vonage_problem(422, "1000", "Invalid params", "The body is not a JSON object.")
        for name in ("message_type", "channel", "to", "from", "text"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                return _vonage_problem(
                    422, "1150", "Invalid params", f"The value of '{name}' is required."
                )
        if payload["message_type"] != "text" or payload["channel"] != "sms":
            return _vonage_problem(
                422, "1150", "Invalid params", "Only message_type text on channel sms."
            )
        to = "+" + payload["to"]
        if not _E164.match(to):
            return _vonage_problem(
                422, "1150", "Invalid params", f"The value of 'to' ({payload['to']}) is invalid."
            )
        key = str(payload.get("client_ref") or "")
        # Vonage does not deduplicate: a repeated client_ref is counted and sent again.
        self.state.note_request("vonage", to, key)
        fault = self.state.take_fault(to, "vonage")
        if fault is not None and fault.kind == "429":
            return _vonage_problem(
                429,
                "1020",
                "Rate Limit Hit",
                "Please wait, then retry your request",
                **{"Retry-After": f"{fault.retry_after:g}"},
            )
        if fault is not None and fault.kind == "500":
            return _vonage_problem(500, "1010", "Internal Error", "Please retry later.")
        if fault is not None and fault.kind == "400":
            return _vonage_problem(
                422, fault.code or "1240", "Illegal Number", "The recipient cannot be reached."
            )
        message_uuid = str(uuid.uuid4())
        self._record(
            "vonage",
            sid=message_uuid,
            to=to,
            sender=payload["from"],
            text=payload["text"],
            ref=key,
            callback=str(payload.get("webhook_url") or ""),
            request=request,
        )
        webhook_url = str(payload.get("webhook_url") or "")
        if webhook_url:
            final = "undeliverable" if fault is not None and fault.kind == "undelivered" else ""
            report = {
                "message_uuid": message_uuid,
                "to": payload["to"],
                "from": payload["from"],
                "channel": "sms",
                "client_ref": key,
            }
            self._spawn(self._vonage_callbacks(webhook_url, report, final or "delivered"))
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(self.config.timeout_delay)
        return JSONResponse({"message_uuid": message_uuid}, status_code=202)

    async def _vonage_callbacks(self, url: str, report: dict[str, Any], final: str) -> None:
        for status in ("submitted", final):
            await asyncio.sleep(self.config.callback_delay)
            body = {**report, "status": status, "timestamp": _vonage_time()}
            if status == "undeliverable":
                body["error"] = {
                    "type": f"{_VONAGE_ERRORS}#1320",
                    "title": 1320,
                    "detail": "Message failed because the number is unreachable",
                    "instance": str(uuid.uuid4()),
                }
            await self._post_vonage_signed(url, body, kind="status")

    async def _post_vonage_signed(
        self, url: str, body: dict[str, Any], *, kind: str
    ) -> httpx.Response | None:
        """POST ``body`` with the JWT Vonage puts on its webhooks (HS256, payload_hash)."""
        content = json.dumps(body).encode()
        claims = {
            "iat": int(time.time()),
            "jti": str(uuid.uuid4()),
            "iss": "Vonage",
            "payload_hash": hashlib.sha256(content).hexdigest(),
            "api_key": self.config.vonage_api_key,
            "application_id": "sandbox-application",
        }
        token = jwt.encode(claims, self.config.vonage_signature_secret, algorithm="HS256")
        entry: dict[str, Any] = {"kind": kind, "url": url, "params": body}
        response: httpx.Response | None = None
        try:
            async with self._callback_slot():
                response = await self._callback_client().post(
                    url,
                    content=content,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
            entry["status_code"] = response.status_code
        except httpx.HTTPError as exc:
            entry["error"] = repr(exc)
        with self.state.lock:
            self.state.callbacks.append(entry)
        return response

    # -- control ----------------------------------------------------------------

    async def list_requests(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse(list(self.state.requests))

    async def list_messages(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse(list(self.state.messages))

    async def list_callbacks(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse(list(self.state.callbacks))

    async def stats(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse(
                {
                    "messages": len(self.state.messages),
                    "duplicates": self.state.duplicates,
                    "lookups": self.state.lookups,
                }
            )

    async def add_fault(self, request: Request) -> Response:
        try:
            spec = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "body: not JSON"}, status_code=400)
        if not isinstance(spec, dict):
            return JSONResponse({"error": "body: expected a JSON object"}, status_code=400)
        number, kind, count = spec.get("number"), spec.get("kind"), spec.get("count", 1)
        provider = spec.get("provider")
        if not isinstance(number, str) or not _E164.match(number):
            return JSONResponse({"error": "number: expected an E.164 number"}, status_code=400)
        if kind not in FAULT_KINDS:
            return JSONResponse({"error": f"kind: one of {list(FAULT_KINDS)}"}, status_code=400)
        if not isinstance(count, int) or count < 1:
            return JSONResponse({"error": "count: a positive integer"}, status_code=400)
        if provider not in (None, "twilio", "vonage"):
            return JSONResponse({"error": "provider: twilio, vonage or absent"}, status_code=400)
        retry_after = spec.get("retry_after", 1)
        if not isinstance(retry_after, int | float) or retry_after < 0:
            return JSONResponse({"error": "retry_after: seconds >= 0"}, status_code=400)
        fault = Fault(kind, count, provider, float(retry_after), str(spec.get("code") or ""))
        with self.state.lock:
            self.state.faults.setdefault(number, []).append(fault)
        return JSONResponse({"number": number, "kind": kind, "count": count}, status_code=201)

    async def inbound(self, request: Request) -> Response:
        try:
            spec = json.loads(await request.body())
        except ValueError:
            spec = None
        if not isinstance(spec, dict) or not isinstance(spec.get("from"), str):
            return JSONResponse({"error": "from: an E.164 number is required"}, status_code=400)
        if not isinstance(spec.get("body", ""), str):
            return JSONResponse({"error": "body: text expected"}, status_code=400)
        if spec.get("provider") == "vonage":
            message = {
                "channel": "sms",
                "message_type": "text",
                "message_uuid": str(uuid.uuid4()),
                "to": str(spec.get("to") or self.config.inbound_to).lstrip("+"),
                "from": spec["from"].lstrip("+"),
                "text": spec.get("body", ""),
                "timestamp": _vonage_time(),
            }
            answer = await self._post_vonage_signed(
                self.config.vonage_inbound_url, message, kind="inbound"
            )
            if answer is None:
                return JSONResponse({"error": "vonage_inbound_url unreachable"}, status_code=502)
            return JSONResponse({"status": answer.status_code, "body": answer.text})
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "SmsSid": "",
            "AccountSid": self.config.account_sid,
            "From": spec["from"],
            "To": str(spec.get("to") or self.config.inbound_to),
            "Body": spec.get("body", ""),
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        params["SmsSid"] = params["MessageSid"]
        response = await self._post_signed(self.config.inbound_url, params, kind="inbound")
        if response is None:
            return JSONResponse({"error": "inbound_url unreachable"}, status_code=502)
        return JSONResponse({"status": response.status_code, "body": response.text})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    # -- helpers ----------------------------------------------------------------

    def _record(
        self,
        provider: str,
        *,
        sid: str,
        to: str,
        sender: str,
        text: str,
        ref: str,
        callback: str,
        request: Request,
    ) -> None:
        self.state.record(
            {
                "provider": provider,
                "sid": sid,
                "to": to,
                "from": sender,
                "body": text,
                "delivery_ref": ref,
                "status_callback": callback,
                "received_at": time.time(),
                "user_agent": request.headers.get("user-agent", ""),
            }
        )

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _vonage_time() -> str:
    """Vonage's webhook timestamps: ISO 8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_emulator(config: EmulatorConfig | None = None) -> Emulator:
    return Emulator(config or EmulatorConfig())


class EmulatorServer:
    """An emulator served by uvicorn in a background thread."""

    def __init__(
        self, emulator: Emulator, server: uvicorn.Server, thread: threading.Thread, port: int
    ) -> None:
        self.emulator = emulator
        self.state = emulator.state
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # Control endpoints over HTTP, as a test or a script would use them.

    def messages(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/_emulator/messages", timeout=5)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()
        return messages

    def stats(self) -> dict[str, int]:
        response = httpx.get(f"{self.url}/_emulator/stats", timeout=5)
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    def add_fault(self, number: str, kind: str, **spec: Any) -> None:
        body = {"number": number, "kind": kind, **spec}
        response = httpx.post(f"{self.url}/_emulator/faults", json=body, timeout=5)
        if response.status_code != 201:
            raise ValueError(response.json().get("error", response.text))

    def inbound(self, sender: str, body: str, provider: str = "twilio") -> dict[str, Any]:
        """Simulate a reply from ``sender``; returns the webhooks' status and body."""
        response = httpx.post(
            f"{self.url}/_emulator/inbound",
            json={"from": sender, "body": body, "provider": provider},
            timeout=15,
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


def start_emulator(
    port: int = 0, *, host: str = "127.0.0.1", config: EmulatorConfig | None = None
) -> tuple[EmulatorServer, int]:
    """Start the emulator in-process (tests, notebooks); ``server.stop()`` ends it."""
    emulator = create_emulator(config)
    running = serve_in_thread(emulator.app, host=host, port=port)
    server, thread, bound = running.server, running.thread, running.port
    return EmulatorServer(emulator, server, thread, bound), bound
